from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from .validators import (
    validate_avatar_extension,
    validate_avatar_image,
    validate_avatar_size,
    validate_phone,
    validate_time_zone,
)


def default_time_zone() -> str:
    """A new user's time zone: the site's (TIME_ZONE)."""
    return settings.TIME_ZONE


class UserManager(BaseUserManager["User"]):
    """Creates users identified by email alone (there is no username)."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> "User":
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        if not extra_fields["is_staff"] or not extra_fields["is_superuser"]:
            raise ValueError("A superuser needs is_staff=True and is_superuser=True.")
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person with an account: signs in with a verified email address."""

    username = None  # type: ignore[assignment]  # email-only accounts
    email = models.EmailField(_("email address"), unique=True)
    avatar = models.ImageField(
        _("avatar"),
        upload_to="avatars/%Y/%m/",
        blank=True,
        validators=[validate_avatar_extension, validate_avatar_size, validate_avatar_image],
        help_text=_("JPEG, PNG, GIF or WebP, at most 2 MB."),
    )
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_phone])
    country = CountryField(_("country"), blank=True)
    is_blocked = models.BooleanField(
        _("blocked"),
        default=False,
        help_text=_(
            "A blocked user may sign in and read, but nothing of theirs is sent and "
            "they cannot create, edit or send."
        ),
    )
    language = models.CharField(
        _("language"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Pages and mails in this language. Empty: your browser's language."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text=_("Times you see and enter are in this time zone."),
    )
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)
    blocked_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("blocked by"),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="users_user_email_ci_unique"),
        ]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        permissions = [("block_user", _("Can block and unblock users"))]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email
