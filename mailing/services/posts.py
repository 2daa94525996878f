""" "Mail this post": a blog post becomes an ordinary message of the user who asked.

The message is the user's own (`message_create`), editable before anything is sent; nothing is
sent here, and only the user's own recipients ever get it, through an explicit send.

Which post a user may use: any live, public post (what anybody can read), and a post that is
not live only when it is the user's own draft — the page's owner, or the author of its latest
revision — so an editor cannot mail a colleague's unpublished work. Anything else answers as
if it did not exist (`Http404`).
"""

from django.http import Http404

from blog.email import post_body, post_subject
from blog.models import BlogPage
from core.roles import ensure_can_write
from users.models import User

from ..models import Message
from .messages import message_create


def usable_post(*, user: User, page_id: int) -> BlogPage:
    """The post `user` may turn into a message, as it should be mailed: the live version of a
    live post, the latest draft of the user's own unpublished one. 404 otherwise."""
    page = BlogPage.objects.filter(pk=page_id).first()
    if page is None:
        raise Http404
    if page.live and not page.get_view_restrictions().exists():
        return page
    if page.live:
        raise Http404  # a private post is not mailed to a list
    revision = page.get_latest_revision()
    own = page.owner_id == user.pk or (revision is not None and revision.user_id == user.pk)
    if not own:
        raise Http404
    return page.get_latest_revision_as_object() if revision is not None else page


def message_from_post(*, user: User, page_id: int) -> Message:
    """A new Markdown message of `user`: the post's title as its subject, its cover, intro and
    body rendered for email with a link back to it (`blog.email`)."""
    ensure_can_write(user)
    post = usable_post(user=user, page_id=page_id)
    return message_create(
        owner=user,
        subject=post_subject(post)[:255],
        body=post_body(post),
        format=Message.Format.MARKDOWN,
    )
