"""Messages worth opening: personalisation, Markdown as HTML with a text part, the preview and
"Send me a test" — delivered through a real SMTP server on loopback and parsed with `email`."""

from email import message_from_bytes
from email.policy import default

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from mailing import delivery, services
from mailing.content import RecipientContext
from mailing.content.rich import RichMessage
from mailing.content.templating import TemplateError, parse
from mailing.models import Attempt, DailyStat, Delivery, Message, Recipient, Run
from mailing.services.trial_send import TEST_SEND_LIMIT

HOSTILE = """# Hello {{ first_name }}

<script>alert("x")</script>
<img src="https://example.com/a.png" onerror="alert(1)">
<a href="javascript:alert(2)">raw link</a> and [md link](javascript:alert(3)).
<p onclick="alert(4)" style="background:url(javascript:alert(5))">Para</p>
<iframe src="https://evil.example/"></iframe>
[fine](https://example.com/page)
"""


def parsed(data: bytes):
    return message_from_bytes(data.replace(b"\r\n..", b"\r\n."), policy=default)


def parts(message) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def rich(
    subject: str = "Hi {{ first_name }}", body: str = "Dear **{{ full_name }}**"
) -> RichMessage:
    return RichMessage(
        subject=subject,
        body=body,
        from_email="Campaigns <noreply@example.com>",
        reply_to="owner@example.com",
        run_id=3,
        owner_id=1,
    )


# --- The template language -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ settings.SECRET_KEY }}",
        "{{ settings }}",
        "{{ user.password }}",
        "{{ first_name.__class__ }}",
        "{% load static %}",
        "{% if first_name %}x{% endif %}",
        "{% include 'base.html' %}",
        "{{ first_name|safe }}",
        "{{ first_name|default }}",
        "{{ first_name",
        "first_name }}",
        "{{ }}",
        "{# a comment #}",
    ],
)
def test_only_known_variables_and_filters_parse(source):
    with pytest.raises(TemplateError):
        parse(source)


def test_variables_filters_and_defaults_render():
    template = parse('Hi {{ first_name|default:"friend"|upper }}, {{ email }}!')

    assert template.render({"first_name": "", "email": "a@b.c"}) == "Hi FRIEND, a@b.c!"
    assert template.render({"first_name": "ann", "email": "a@b.c"}) == "Hi ANN, a@b.c!"
    assert template.names == {"first_name", "email"}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("body", {"body": "Hello {{ name }}"}),
        ("body", {"body": "{% load static %}{% static 'x' %}"}),
        ("body", {"body": "{{ settings.DATABASES }}"}),
        ("subject", {"subject": "Hi {{ first_name"}),
    ],
)
def test_a_broken_template_is_refused_at_save_on_its_field(user, field, values):
    data = {"subject": "Hi", "body": "Hello", **values}

    with pytest.raises(ValidationError) as refused:
        services.message_create(owner=user, **data)

    assert list(refused.value.message_dict) == [field]
    assert not Message.objects.exists()


def test_the_form_shows_the_variables_and_its_errors_next_to_the_field(user, client_for):
    client = client_for(user)

    page = client.get(reverse("mailing:message_create")).content.decode()
    for name in ("first_name", "full_name", "email", "unsubscribe_url"):
        assert f"{{{{ {name} }}}}" in page

    response = client.post(
        reverse("mailing:message_create"), {"subject": "Hi", "body": "{% load static %}"}
    )
    assert response.status_code == 200
    assert "Tags such as" in response.context["form"].errors["body"][0]
    assert not Message.objects.exists()


def test_a_plain_message_keeps_its_braces_and_new_ones_are_markdown(user):
    plain = services.message_create(
        owner=user, subject="{{ x }}", body="{% as typed %}", format=Message.Format.PLAIN
    )
    markdown = services.message_create(owner=user, subject="Hi", body="*Hello*")

    assert plain.format == Message.Format.PLAIN
    assert markdown.format == Message.Format.MARKDOWN


# --- What goes out ---------------------------------------------------------------------------


def test_the_mail_is_multipart_alternative_with_a_text_and_an_html_part():
    data = rich(body="Hello **{{ first_name }}**, see [the site](https://example.com/).").render(
        RecipientContext("anna@example.org", "Anna Petrova", 5, 1)
    )

    message = parsed(data)
    assert message.get_content_type() == "multipart/alternative"
    found = parts(message)
    assert list(found) == ["text/plain", "text/html"]
    assert "Hello Anna, see the site (https://example.com/)." in found["text/plain"]
    html = found["text/html"]
    assert "<strong>Anna</strong>" in html
    assert 'href="https://example.com/"' in html
    assert "Campaigns" in html  # the layout carries the site's name (settings.SITE_NAME)
    assert 'style="' in html  # CSS inlined for mail clients
    assert message["Subject"] == "Hi Anna"
    assert message["Message-ID"] == "<mailing.3.5@example.com>"
    assert data.endswith(b"\r\n") and b"\n" not in data.replace(b"\r\n", b"")


def test_script_event_handlers_and_javascript_links_never_reach_the_mail():
    data = rich(body=HOSTILE).render(RecipientContext("anna@example.org", "Anna", 5, 1))

    message = parsed(data)
    whole = "".join(parts(message).values()).lower()
    for needle in ("<script", "alert(", "onerror", "onclick", "javascript:", "<iframe"):
        assert needle not in whole
    assert 'href="https://example.com/page"' in parts(message)["text/html"]


def test_a_recipients_values_are_escaped_and_cannot_make_a_link_unsafe():
    message = rich(body="Hi {{ full_name }} [me]({{ full_name }})")

    html = parts(
        parsed(
            message.render(RecipientContext("a@example.org", 'javascript:alert(1)"<script>', 5, 1))
        )
    )["text/html"]

    assert "<script>" not in html
    assert "javascript:alert(1)&quot;&lt;script&gt;" in html
    assert 'href=""' in html


def test_each_recipient_gets_their_own_name_in_subject_and_body(user, make_mailing, smtp_sink):
    mailing = make_mailing(user, recipients=0)
    Message.objects.filter(pk=mailing.message_id).update(
        subject="News for {{ first_name }}",
        body="Dear {{ full_name }},\n\n[Leave]({{ unsubscribe_url }})",
        format=Message.Format.MARKDOWN,
    )
    people = Recipient.objects.bulk_create(
        [
            Recipient(owner=user, email="anna@example.org", full_name="Анна Петрова"),
            Recipient(owner=user, email="bob@example.org", full_name="Bob Stone"),
        ]
    )
    mailing.recipients.set(people)

    delivery.start_run(mailing=mailing)
    report = delivery.deliver()

    assert report.sent == 2
    got = {r.rcpt_to: parsed(r.data) for r in smtp_sink.received}
    assert got["anna@example.org"]["Subject"] == "News for Анна"
    assert got["bob@example.org"]["Subject"] == "News for Bob"
    anna, bob = parts(got["anna@example.org"]), parts(got["bob@example.org"])
    assert "Dear Анна Петрова," in anna["text/plain"] and "Bob" not in anna["text/html"]
    assert "Dear Bob Stone," in bob["text/html"]
    # Each gets their own unsubscribe link.
    assert "/u/" in anna["text/html"] and "/u/" in bob["text/html"]
    links = [p["text/plain"].split("/u/")[1].split("/")[0] for p in (anna, bob)]
    assert links[0] != links[1]


# --- Preview and test send -------------------------------------------------------------------


def test_the_message_page_previews_html_in_a_sandbox_and_the_text_part(user, client_for):
    message = services.message_create(owner=user, subject="Hi {{ first_name }}", body=HOSTILE)
    Recipient.objects.create(owner=user, email="anna@example.org", full_name="Anna Petrova")
    client = client_for(user)

    page = client.get(reverse("mailing:message_detail", args=[message.pk]))
    html = page.content.decode()
    assert 'data-testid="preview-frame"' in html and " sandbox " in html
    assert page.context["preview"].subject == "Hi Anna"
    assert "# Hello Anna" not in page.context["preview"].text
    assert "Hello Anna" in page.context["preview"].text

    frame = client.get(reverse("mailing:message_preview", args=[message.pk]))
    assert frame.status_code == 200
    policy = frame["Content-Security-Policy"]
    assert policy.startswith("sandbox;") and "script-src" not in policy
    assert "default-src 'none'" in policy
    assert "<script" not in frame.content.decode()
    assert frame["X-Frame-Options"] == "SAMEORIGIN"
    # Never revalidated: a 304 would carry the site's policy, which the browser would then
    # apply to the frame's kept copy.
    assert "no-store" in frame["Cache-Control"] and not frame.has_header("ETag")


def test_another_users_message_cannot_be_previewed_or_tested(user, other_user, client_for):
    theirs = services.message_create(owner=other_user, subject="Theirs", body="B")
    client = client_for(user)

    assert client.get(reverse("mailing:message_preview", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("mailing:message_test", args=[theirs.pk])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_test_send_reaches_only_the_owner_and_changes_no_statistics(
    user, make_mailing, client_for, smtp_sink
):
    mailing = make_mailing(user, recipients=3)
    Message.objects.filter(pk=mailing.message_id).update(
        subject="Hi {{ first_name }}", body="Hello **{{ full_name }}**", format="markdown"
    )
    client = client_for(user)

    response = client.post(reverse("mailing:mailing_test", args=[mailing.pk]), follow=True)

    assert [str(m) for m in response.context["messages"]] == [f"A test was sent to {user.email}."]
    assert [r.rcpt_to for r in smtp_sink.received] == [user.email]
    sent = parsed(smtp_sink.received[0].data)
    assert sent["Subject"] == "[Test] Hi Alice"
    assert sent["To"].endswith(f"<{user.email}>")
    assert "Alice" in parts(sent)["text/html"]
    assert not Run.objects.exists() and not Delivery.objects.exists()
    assert not Attempt.objects.exists() and not DailyStat.objects.exists()
    mailing.refresh_from_db()
    assert mailing.status == "created"


@pytest.mark.django_db(transaction=True)
def test_test_sends_are_rate_limited(user, make_mailing, client_for, smtp_sink):
    from django.core.cache import cache

    cache.delete(f"mailing:test-sends:{user.pk}")
    mailing = make_mailing(user, recipients=1)
    client = client_for(user)
    url = reverse("mailing:message_test", args=[mailing.message_id])

    for _ in range(TEST_SEND_LIMIT):
        client.post(url)
    refused = client.post(url, follow=True)

    assert smtp_sink.total == TEST_SEND_LIMIT
    assert "try again a little later" in str(list(refused.context["messages"])[-1])
    cache.delete(f"mailing:test-sends:{user.pk}")


def test_a_manager_cannot_send_a_test_of_someone_elses_message(user, manager, client_for):
    message = services.message_create(owner=user, subject="Hi", body="B")

    response = client_for(manager).post(reverse("mailing:message_test", args=[message.pk]))

    assert response.status_code == 403


def test_the_web_version_link_shows_the_message_without_signing_in(user, client):
    from mailing.content import prepare_message

    message = services.message_create(
        owner=user,
        subject="Hi",
        body='Hello {{ first_name|default:"reader" }}. [Web]({{ web_url }})',
    )
    from mailing.content.identity import Envelope

    envelope = Envelope(owner_id=user.pk, owner_name="", reply_to=user.email, run_id=1)
    prepared = prepare_message(message=message, envelope=envelope)
    html = parts(parsed(prepared.render(RecipientContext("a@example.org", "Ann", 1, 1))))[
        "text/html"
    ]
    url = html.split('href="http://testserver')[1].split('"')[0]
    assert url.startswith("/m/")

    page = client.get(url)
    assert page.status_code == 200
    assert "Hello reader." in page.content.decode()
    assert page["Content-Security-Policy"].startswith("sandbox")
    assert client.get(url[:-3] + "xx/").status_code == 404  # an altered token


def test_the_new_pages_and_errors_speak_russian(user, client_for, settings):
    from django.utils import translation

    message = services.message_create(owner=user, subject="Hi {{ first_name }}", body="*Hi*")
    client = client_for(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    user.language = "ru"
    user.save(update_fields=["language"])

    page = client.get(reverse("mailing:message_detail", args=[message.pk])).content.decode()
    assert "Прислать мне тест" in page and "Текстовая часть" in page and "получит" in page
    form = client.get(reverse("mailing:message_create")).content.decode()
    assert "Пишется в Markdown" in form and "имя получателя" in form
    refused = client.post(reverse("mailing:message_create"), {"subject": "x", "body": "{{ x }}"})
    assert "Переменной «x» нет" in refused.context["form"].errors["body"][0]
    with translation.override("ru"):
        from mailing.digests import NOTHING_NEW

        assert translation.gettext(NOTHING_NEW).endswith("ничего не отправлено")
        assert translation.gettext("Mail this post") == "Разослать эту запись"


def test_a_rich_message_carries_the_envelopes_headers_and_a_dkim_signature_that_verifies(
    settings,
):
    import dkim

    from mailing.content.dkim import Signer
    from mailing.content.identity import Envelope
    from mailing.tests.test_identity_dkim import PEM, dns

    settings.DEFAULT_FROM_EMAIL = "Campaigns <noreply@example.com>"
    signer = Signer(domain="example.com", selector="mail2027", private_key=PEM)
    envelope = Envelope(
        owner_id=42, owner_name="Алиса", reply_to="o@example.org", run_id=7, signer=signer
    )
    message = RichMessage(
        subject="Hi {{ first_name }}", body="Hello **{{ full_name }}**", envelope=envelope
    )

    for recipient in (
        RecipientContext("anna@example.org", "Anna Smith", 11, 3),
        RecipientContext("bob@example.org", "Bob", 12, 4),
    ):
        data = message.render(recipient).replace(b"\r\n..", b"\r\n.")
        assert dkim.verify(data, dnsfunc=dns)
        sent = parsed(data)
        assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = sent["List-Unsubscribe"].strip("<>")
        found = parts(sent)
        # The same one-click link in the footer of both parts.
        assert url in found["text/plain"] and f'href="{url}"' in found["text/html"]
        assert sent["Reply-To"] == "o@example.org"
