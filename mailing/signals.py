"""Keeps cached campaign figures right when campaign data goes away without a service call."""

from django.conf import settings
from django.db.models.signals import post_delete
from django.dispatch import receiver

from . import cache


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def forget_deleted_owner(sender, instance, **kwargs) -> None:
    """Deleting an account deletes everything it owned (cascade): drop that owner's cached
    pages and the site-wide ones, so the home page's totals drop at once."""
    cache.bump(owner_id=instance.pk)
