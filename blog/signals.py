"""Keep the cached list of live post ids in step with publishing."""

from django.db.models.signals import post_delete
from django.dispatch import receiver
from wagtail.signals import page_published, page_unpublished, post_page_move

from .models import BlogPage
from .selectors import forget_live_post_ids


@receiver(page_published, sender=BlogPage)
@receiver(page_unpublished, sender=BlogPage)
@receiver(post_delete, sender=BlogPage)
def blog_posts_changed(sender, **kwargs) -> None:
    forget_live_post_ids()


@receiver(post_page_move)
def page_moved(sender, instance, **kwargs) -> None:
    # Moving a post (or its index) can change whether it is public.
    forget_live_post_ids()
