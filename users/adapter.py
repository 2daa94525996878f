import logging

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)

# allauth's "Confirmation email sent to …" flash, which must not follow a failed send.
CONFIRMATION_SENT_MESSAGE = "account/messages/email_confirmation_sent.txt"
# Extra message tag the "sent" pages look for (home.templatetags.ui_tags.mail_failed).
MAIL_FAILED_TAG = "mail-failed"
MAIL_FAILED_MESSAGE = _(
    "We could not send the email to %(email)s: our mail server is not reachable right now. "
    "Please try again in a few minutes."
)


class AccountAdapter(DefaultAccountAdapter):
    """allauth hooks: structured log lines for sign-ups and confirmed addresses, and account
    mail that fails gracefully when the mail server is down."""

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        user = super().save_user(request, user, form, commit=commit)
        logger.info("user.signed_up", extra={"user_id": user.pk, "email": user.email})
        return user

    def confirm_email(self, request: HttpRequest, email_address) -> bool:
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            logger.info(
                "user.email_confirmed",
                extra={"user_id": email_address.user_id, "email": email_address.email},
            )
        return confirmed

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Send an account mail; if the mail server refuses or cannot be reached, log it and
        tell the person instead of answering with a server error."""
        try:
            super().send_mail(template_prefix, email, context)
        except OSError as error:  # smtplib's errors and socket errors (refused, timeout) alike
            logger.error(
                "account.mail_failed",
                extra={"template": template_prefix, "email": email, "error": repr(error)},
            )
            request = allauth_context.request
            if request is not None:
                request.account_mail_failed = True
                messages.error(
                    request, MAIL_FAILED_MESSAGE % {"email": email}, extra_tags=MAIL_FAILED_TAG
                )

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        if message_template == CONFIRMATION_SENT_MESSAGE and getattr(
            request, "account_mail_failed", False
        ):
            return
        super().add_message(
            request,
            level,
            message_template=message_template,
            message_context=message_context,
            extra_tags=extra_tags,
            message=message,
        )
