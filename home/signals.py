"""Renew the pages version of the home page's cached copy (home.page_cache) whenever what it
shows may have changed: a page's content, place or visibility, the site, or an image."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from wagtail.images import get_image_model
from wagtail.images.models import AbstractImage
from wagtail.models import Page, PageViewRestriction, Site
from wagtail.signals import page_published, page_unpublished, post_page_move

from .page_cache import renew_pages_version


@receiver(page_published)
@receiver(page_unpublished)
@receiver(post_page_move)
def page_changed(sender, **kwargs) -> None:
    renew_pages_version()


@receiver(post_save, sender=PageViewRestriction)
@receiver(post_save, sender=Site)
@receiver(post_save, sender=get_image_model())
def shown_object_saved(sender, **kwargs) -> None:
    renew_pages_version()


@receiver(post_delete)
def shown_object_deleted(sender, instance, **kwargs) -> None:
    if isinstance(instance, Page | PageViewRestriction | Site | AbstractImage):
        renew_pages_version()
