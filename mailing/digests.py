""" "New blog posts" as a mailing's content: a digest per occurrence.

When a run of such a mailing starts (`mailing.delivery.runs`, before anything is queued),
`decide` picks the posts published since the last run that mailed any (or since the mailing
was created): the live, public blog posts whose first publication falls in that window. With
none, the run is closed at once with nothing queued, and its note says so in the mailing's
history; with some, a `Digest` fixes the list for the run, so every recipient and every retry
gets the same one. `digest_markdown` is what `mailing.content.prepare` appends to the message
(the digest's subject and introduction).
"""

from datetime import datetime

from django.utils.translation import gettext, gettext_noop

from .models import Digest, Mailing, Run

NOTHING_NEW = gettext_noop("no new blog post since the last digest: nothing was sent")


def decide(*, run: Run, mailing: Mailing, now: datetime) -> bool:
    """Whether `run` (just created, of `mailing`, locked) should queue its deliveries."""
    if mailing.content != Mailing.Content.NEW_POSTS:
        return True
    since = _since(mailing)
    post_ids = list(_new_posts(since=since, until=now).values_list("pk", flat=True))
    if not post_ids:
        run.finished_at = now
        # Stored in English, translated where it is shown (as the other reasons are).
        run.cancel_reason = NOTHING_NEW
        run.save(update_fields=["finished_at", "cancel_reason"])
        return False
    Digest.objects.create(run=run, post_ids=post_ids, since=since, until=now)
    return True


def digest_markdown(run: Run) -> str:
    """The run's posts as the end of its message's body (empty when the run has no digest)."""
    from blog.email import digest_body
    from blog.models import BlogPage

    digest = Digest.objects.filter(run=run).first()
    if digest is None:
        return ""
    posts = (
        BlogPage.objects.filter(pk__in=digest.post_ids)
        .select_related("cover_image")
        .order_by("-first_published_at", "-pk")
    )
    return digest_body(posts)


def pending_markdown(mailing: Mailing, *, now: datetime) -> str:
    """What the next digest of `mailing` would list if it started `now` (a test send's), or
    a sentence saying there is nothing yet; records nothing."""
    from blog.email import digest_body, plain_as_html

    posts = list(_new_posts(since=_since(mailing), until=now).select_related("cover_image"))
    if not posts:
        return plain_as_html(
            gettext("(No new blog post yet: the next occurrence would send nothing.)")
        )
    return digest_body(posts)


def _since(mailing: Mailing) -> datetime:
    last = (
        Digest.objects.filter(run__mailing=mailing)
        .exclude(post_ids=[])
        .order_by("-until")
        .values_list("until", flat=True)
        .first()
    )
    return last or mailing.created_at


def _new_posts(*, since: datetime, until: datetime):
    from blog.models import BlogPage

    return (
        BlogPage.objects.live()
        .public()
        .filter(first_published_at__gt=since, first_published_at__lte=until)
        .order_by("-first_published_at", "-pk")
    )
