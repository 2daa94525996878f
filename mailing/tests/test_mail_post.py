""" "Mail this post": a blog post becomes an ordinary message of the user who asked."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from wagtail.models import PageViewRestriction

from blog.tests.factories import blog_index, cover_image, make_post
from mailing.content import RecipientContext
from mailing.content.rich import RichMessage
from mailing.models import Message
from users.groups import BLOGGERS

PARAGRAPH = (
    '<h2>Part one</h2><p>See <a href="/about/">about</a> and '
    '<a href="https://example.org/x">elsewhere</a>. {{ settings }} {% load x %}</p>'
    '<script>alert(1)</script><p><img src="/x.png" onerror="alert(2)"></p>'
    '<embed embedtype="media" url="https://www.youtube.com/watch?v=abc"/>'
)


@pytest.fixture
def post(db):
    post = make_post(
        "Spring release",
        intro="What is new this spring.",
        cover=cover_image(),
        body=[
            {"type": "paragraph", "value": PARAGRAPH},
            {"type": "image", "value": {"image": cover_image("Inline").pk, "caption": "A chart"}},
            {"type": "quote", "value": {"text": "Ship it.", "attribution": "The team"}},
        ],
    )
    post.title = "Spring {{ release }}"  # braces a template would read
    post.save_revision().publish()
    post.refresh_from_db()
    return post


def test_a_post_becomes_a_message_with_its_title_absolute_urls_and_no_script(
    user, client_for, post
):
    client = client_for(user)

    response = client.post(reverse("mailing:message_from_post", args=[post.pk]))

    message = Message.objects.get(owner=user)
    assert response.status_code == 302
    assert response["Location"] == reverse("mailing:message_update", args=[message.pk])
    assert message.format == Message.Format.MARKDOWN
    assert message.subject.replace("\u200b", "") == "Spring {{ release }}"
    body = message.body
    assert "<script" not in body and "onerror" not in body and "alert(" not in body
    assert 'href="http://testserver/about/"' in body
    assert 'href="https://example.org/x"' in body
    assert 'href="https://www.youtube.com/watch?v=abc"' in body  # the embed, as a link
    assert 'src="http://testserver/media/images/' in body  # renditions, absolute
    assert "width-1200" in body and 'width="' in body
    assert "A chart" in body and "Ship it." in body and "The team" in body
    assert f'href="http://testserver{post.url}"' in body  # the link back to the post

    # And it is sent as written: the post's braces are text, not variables.
    sent = RichMessage(
        subject=message.subject,
        body=message.body,
        from_email="noreply@example.com",
        reply_to="",
        run_id=1,
        owner_id=user.pk,
    )
    subject, text, html = sent.parts(sent.context(RecipientContext("a@b.example", "A", 1, 1)))
    assert "{{ settings }} {% load x %}" in text
    assert "<script" not in html and "javascript:" not in html
    assert "Spring" in subject


def test_the_page_offers_it_to_a_signed_in_user_with_a_dashboard_only(
    user, manager, client_for, client, post
):
    assert 'data-testid="mail-post"' in client_for(user).get(post.url).content.decode()
    assert 'data-testid="mail-post"' not in client.get(post.url).content.decode()
    assert 'data-testid="mail-post"' not in client_for(manager).get(post.url).content.decode()


def test_only_a_signed_in_user_who_may_write_can_use_it(manager, client_for, client, post):
    url = reverse("mailing:message_from_post", args=[post.pk])

    assert client.post(url).status_code == 302  # to the sign-in page
    assert client_for(manager).post(url).status_code == 403
    assert not Message.objects.exists()


def test_another_users_draft_cannot_be_used_but_ones_own_can(user, other_user, client_for, db):
    theirs = make_post("Their draft", live=False)
    theirs.owner = other_user
    theirs.save(update_fields=["owner"])
    mine = make_post("My draft", live=False)
    mine.owner = user
    mine.save(update_fields=["owner"])
    client = client_for(user)

    assert client.get(reverse("mailing:message_from_post", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("mailing:message_from_post", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("mailing:message_from_post", args=[mine.pk])).status_code == 302
    assert list(Message.objects.values_list("subject", flat=True)) == ["My draft"]


def test_a_private_post_cannot_be_used(user, client_for, db):
    private = make_post("Members only")
    PageViewRestriction.objects.create(page=private, restriction_type="login")

    response = client_for(user).post(reverse("mailing:message_from_post", args=[private.pk]))

    assert response.status_code == 404


def test_the_editor_action_menu_has_mail_this_post_for_an_editor_with_a_dashboard(
    make_user, client_for, db
):
    blog_index()
    editor = make_user("editor@example.com")
    editor.groups.add(Group.objects.get(name=BLOGGERS))
    post = make_post("Edited")
    client = client_for(editor)

    page = client.get(reverse("wagtailadmin_pages:edit", args=[post.pk])).content.decode()
    assert reverse("mailing:message_from_post", args=[post.pk]) in page
    confirm = client.get(reverse("mailing:message_from_post", args=[post.pk]))
    assert confirm.status_code == 200
    assert "Create the message" in confirm.content.decode()
