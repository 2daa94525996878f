""" "New blog posts" as a mailing's content: each occurrence mails the posts published since the
last one that sent any, through a real SMTP server; one with no new post sends nothing."""

from datetime import timedelta
from email import message_from_bytes
from email.policy import default

import pytest
from django.urls import reverse
from django.utils import timezone

from blog.models import BlogPage
from blog.tests.factories import cover_image, make_post
from mailing import delivery, services
from mailing.models import Digest, Mailing, Message, Run

pytestmark = pytest.mark.django_db(transaction=True)


def html_of(received) -> str:
    message = message_from_bytes(received.data.replace(b"\r\n..", b"\r\n."), policy=default)
    return {p.get_content_type(): p.get_content() for p in message.iter_parts()}["text/html"]


def published(post: BlogPage, at) -> BlogPage:
    BlogPage.objects.filter(pk=post.pk).update(first_published_at=at)
    return BlogPage.objects.get(pk=post.pk)


def test_a_digest_with_two_new_posts_mails_both_and_the_next_with_none_sends_nothing(
    user, make_mailing, smtp_sink
):
    mailing = make_mailing(user, recipients=2, periodicity=Mailing.Periodicity.WEEKLY)
    Mailing.objects.filter(pk=mailing.pk).update(content=Mailing.Content.NEW_POSTS)
    Message.objects.filter(pk=mailing.message_id).update(
        subject="This week, {{ first_name }}", body="Here is what is new:", format="markdown"
    )
    created = timezone.now() - timedelta(hours=1)
    Mailing.objects.filter(pk=mailing.pk).update(created_at=created)
    old = published(make_post("Old news"), created - timedelta(days=1))
    first = published(make_post("First post", cover=cover_image()), created + timedelta(minutes=1))
    second = published(make_post("Second post", intro="More."), created + timedelta(minutes=2))

    run = delivery.start_run(mailing=Mailing.objects.get(pk=mailing.pk))
    report = delivery.deliver()

    assert report.sent == 2 and smtp_sink.total == 2
    page = html_of(smtp_sink.received[0])
    assert "Here is what is new:" in page
    assert "First post" in page and "Second post" in page and "More." in page
    assert old.title not in page
    assert f'href="http://testserver{first.url}"' in page
    assert 'src="http://testserver/media/images/' in page  # the cover, absolute
    assert page.index("Second post") < page.index("First post")  # newest first
    assert Digest.objects.get(run=run).post_ids == [second.pk, first.pk]
    delivery.finish_completed()

    # The next occurrence: nothing new since the last digest that sent one.
    smtp_sink.clear()
    empty = delivery.start_run(mailing=Mailing.objects.get(pk=mailing.pk))
    assert delivery.deliver().sent == 0
    assert smtp_sink.total == 0
    empty.refresh_from_db()
    assert empty.finished_at is not None and not empty.deliveries.exists()
    assert empty.cancel_reason == "no new blog post since the last digest: nothing was sent"

    # ... and it says so in the mailing's history.


def test_the_empty_occurrence_shows_in_the_mailings_history(user, make_mailing, client_for):
    mailing = make_mailing(user, recipients=1)
    Mailing.objects.filter(pk=mailing.pk).update(content=Mailing.Content.NEW_POSTS)

    delivery.start_run(mailing=Mailing.objects.get(pk=mailing.pk))

    page = client_for(user).get(reverse("mailing:mailing_detail", args=[mailing.pk]))
    html = page.content.decode()
    assert "(no new blog post since the last digest: nothing was sent)" in html
    assert 'data-testid="mailing-content"' in html
    assert Run.objects.get(mailing=mailing).deliveries.count() == 0


def test_a_digest_mailing_is_chosen_in_the_form(user, make_mailing):
    mailing = make_mailing(user, recipients=1)
    now = timezone.now()

    made = services.mailing_create(
        owner=user,
        message=mailing.message,
        recipients=list(mailing.recipients.all()),
        first_send_at=now + timedelta(hours=1),
        end_at=now + timedelta(days=30),
        periodicity=Mailing.Periodicity.WEEKLY,
        content=Mailing.Content.NEW_POSTS,
    )

    assert made.content == Mailing.Content.NEW_POSTS
    services.mailing_update(user=user, mailing=made, content=Mailing.Content.MESSAGE)
    assert Mailing.objects.get(pk=made.pk).content == Mailing.Content.MESSAGE


def test_a_test_of_a_digest_lists_the_posts_the_next_occurrence_would_send(
    user, make_mailing, client_for, smtp_sink
):
    mailing = make_mailing(user, recipients=1)
    created = timezone.now() - timedelta(hours=1)
    Mailing.objects.filter(pk=mailing.pk).update(
        content=Mailing.Content.NEW_POSTS, created_at=created
    )
    published(make_post("Fresh post"), created + timedelta(minutes=5))

    client_for(user).post(reverse("mailing:mailing_test", args=[mailing.pk]))

    assert [r.rcpt_to for r in smtp_sink.received] == [user.email]
    assert "Fresh post" in html_of(smtp_sink.received[0])
    assert not Run.objects.exists() and not Digest.objects.exists()


def test_a_plain_message_in_a_digest_goes_out_as_written(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=1, subject="Odd {{ braces }}", body="Plain {% text %}")
    created = timezone.now() - timedelta(hours=1)
    Mailing.objects.filter(pk=mailing.pk).update(
        content=Mailing.Content.NEW_POSTS, created_at=created
    )
    published(make_post("A post"), created + timedelta(minutes=5))

    delivery.start_run(mailing=Mailing.objects.get(pk=mailing.pk))
    assert delivery.deliver().sent == 1

    received = smtp_sink.received[0]
    message = message_from_bytes(received.data, policy=default)
    assert message["Subject"].replace("\u200b", "") == "Odd {{ braces }}"
    assert "Plain {% text %}" in html_of(received) and "A post" in html_of(received)
