"""Keep the cached list of live post ids in step with publishing and privacy, and give every
new blog index its writers."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from wagtail.models import PageViewRestriction
from wagtail.signals import page_published, page_unpublished, post_page_move

from users.groups import grant_blog_permissions

from .models import BlogIndexPage, BlogPage
from .selectors import forget_live_post_ids


@receiver(page_published, sender=BlogPage)
@receiver(page_unpublished, sender=BlogPage)
@receiver(post_delete, sender=BlogPage)
def blog_posts_changed(sender, **kwargs) -> None:
    forget_live_post_ids()


@receiver(post_save, sender=PageViewRestriction)
@receiver(post_delete, sender=PageViewRestriction)
def privacy_changed(sender, **kwargs) -> None:
    # A restriction on a post or its blog index takes posts out of the public ones (and removing
    # it brings them back). The home page's cached copy follows too (home.signals).
    forget_live_post_ids()


@receiver(post_page_move)
def page_moved(sender, instance, **kwargs) -> None:
    # Moving a post (or its index) can change whether it is public.
    forget_live_post_ids()


@receiver(post_save, sender=BlogIndexPage)
def blog_index_created(sender, instance, created, raw=False, **kwargs) -> None:
    # A blog an administrator adds on a live site must be writable by Bloggers and Publishers at
    # once, not only after the next migrate. `raw`: loading fixtures or a test's serialized
    # rollback, which bring their own permissions.
    if created and not raw:
        grant_blog_permissions(index=instance)
