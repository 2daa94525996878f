import logging

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    """allauth hooks: structured log lines for sign-ups and confirmed addresses."""

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
