"""Public sign-up with double opt-in: a visitor asks on the list's page, a mail (through the
site's EMAIL_BACKEND, here a real SMTP server on loopback) brings a signed link, and only the
confirmed address joins. The page says the same whoever asks; robots and floods get nothing."""

import re
import time
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailing import services, signup
from mailing.models import Membership, Recipient, RecipientList, Suppression

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def public_list(user) -> RecipientList:
    return RecipientList.objects.create(
        owner=user, name="Weekly <news>", description="Once a week.", is_public=True
    )


def join(client: Client, lst: RecipientList, *, ip: str = "203.0.113.7", **data: str):
    fields = {"email": "visitor@example.net", "full_name": "Vera Visitor", **data}
    return client.post(reverse("signup:join", args=[lst.public_key]), fields, REMOTE_ADDR=ip)


def link_in(message: EmailMessage) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    body = payload.decode(message.get_content_charset() or "utf-8")
    return re.search(r"(https?://\S+/join/confirm/\S+/)", body)[1]


def test_signing_up_mails_a_link_and_following_it_once_joins_the_list(
    public_list, smtp_sink, settings
):
    settings.SITE_URL = "https://news.example.com"
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("signup:join", args=[public_list.public_key]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Weekly &lt;news&gt;" in html and "Weekly <news>" not in html
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)[1]

    response = client.post(
        reverse("signup:join", args=[public_list.public_key]),
        {
            "csrfmiddlewaretoken": csrf,
            "email": "Visitor@Example.net",
            "full_name": "Vera Visitor",
            "source": "/blog/spring/",
        },
        REMOTE_ADDR="203.0.113.7",
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("signup:sent", args=[public_list.public_key])
    assert "Check your inbox" in client.get(response["Location"]).content.decode()
    membership = Membership.objects.get()
    assert membership.status == Membership.Status.PENDING
    assert membership.recipient.email == "Visitor@Example.net"
    assert membership.recipient.owner_id == public_list.owner_id
    assert membership.consent_ip == "203.0.113.7"
    assert membership.consent_source == "https://news.example.com/blog/spring/"
    assert timezone.now() - membership.consented_at < timedelta(minutes=1)
    [received] = smtp_sink.received
    assert received.rcpt_to == "Visitor@Example.net"
    mail = received.message
    assert (
        str(make_header(decode_header(mail["Subject"])))
        == "Confirm your sign-up to “Weekly <news>”"
    )
    url = link_in(mail)
    assert url.startswith("https://news.example.com/join/confirm/")
    path = url.removeprefix("https://news.example.com")

    # Following the link shows a button (a mail scanner's GET confirms nothing) ...
    confirm_page = client.get(path)
    assert confirm_page.status_code == 200
    membership.refresh_from_db()
    assert membership.status == Membership.Status.PENDING
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', confirm_page.content.decode())[
        1
    ]
    # ... pressing it joins, once.
    done = client.post(path, {"csrfmiddlewaretoken": csrf})
    assert done.status_code == 200
    assert "You are on the list" in done.content.decode()
    membership.refresh_from_db()
    assert membership.status == Membership.Status.CONFIRMED
    assert membership.confirmed_at is not None
    again = client.post(path, {"csrfmiddlewaretoken": csrf})
    assert "This link was used already" in again.content.decode()
    assert Membership.objects.get().confirmed_at == membership.confirmed_at


def test_a_post_without_the_csrf_token_is_refused(public_list, smtp_sink):
    client = Client(enforce_csrf_checks=True)
    assert join(client, public_list).status_code == 403
    assert not Membership.objects.exists() and not smtp_sink.received


def test_the_answer_is_the_same_whoever_asks(public_list, user, smtp_sink):
    """New, pending, confirmed, suppressed: the same redirect to the same page."""
    member = Recipient.objects.create(owner=user, email="member@example.net", full_name="M")
    Membership.objects.create(list=public_list, recipient=member)
    Suppression.objects.create(owner=user, email="Gone@example.net", reason="unsubscribed")
    client = Client()
    answers = set()
    for email in (
        "new@example.net",
        "new@example.net",
        "member@example.net",
        "gone@example.net",
    ):
        response = join(client, public_list, email=email)
        page = client.get(response["Location"])
        answers.add((response.status_code, response["Location"], page.content))
    assert len(answers) == 1
    # Mail went to the new address only (twice: asking again sends the link again).
    assert sorted(r.rcpt_to for r in smtp_sink.received) == ["new@example.net"] * 2
    assert not Recipient.objects.filter(email__iexact="gone@example.net").exists()
    assert Membership.objects.get(recipient=member).status == Membership.Status.CONFIRMED
    assert Recipient.objects.get(pk=member.pk).full_name == "M"  # a visitor renames nobody


def test_only_the_newest_link_works_and_a_forged_one_never(public_list, smtp_sink):
    client = Client()
    join(client, public_list)
    join(client, public_list)
    first, second = (link_in(r.message) for r in smtp_sink.received)
    first_path = "/" + first.split("/", 3)[3]
    second_path = "/" + second.split("/", 3)[3]
    assert client.post(first_path).status_code == 400
    forged = signing.dumps([Membership.objects.get().pk, "2020-01-01"], salt="other")
    assert client.get(reverse("signup:confirm", args=[forged])).status_code == 400
    assert client.post(reverse("signup:confirm", args=[forged])).status_code == 400
    assert Membership.objects.get().status == Membership.Status.PENDING
    assert client.post(second_path).status_code == 200
    assert Membership.objects.get().status == Membership.Status.CONFIRMED


def test_an_expired_link_does_not_work(public_list, smtp_sink, settings, monkeypatch):
    settings.MAILING_SIGNUP_CONFIRM_DAYS = 7
    join(Client(), public_list)
    membership = Membership.objects.get()
    now = time.time()
    with monkeypatch.context() as patched:  # the link was made eight days ago
        patched.setattr(time, "time", lambda: now - 8 * 24 * 3600)
        old = signup.make_token(membership_id=membership.pk, consented_at=membership.consented_at)
    assert Client().get(reverse("signup:confirm", args=[old])).status_code == 400
    assert Client().post(reverse("signup:confirm", args=[old])).status_code == 400
    assert Membership.objects.get().status == Membership.Status.PENDING
    fresh = signup.make_token(membership_id=membership.pk, consented_at=membership.consented_at)
    assert Client().post(reverse("signup:confirm", args=[fresh])).status_code == 200


def test_the_honeypot_catches_robots_with_the_same_answer(public_list, smtp_sink):
    response = join(Client(), public_list, website="http://spam.example")
    assert response.status_code == 302
    assert response["Location"] == reverse("signup:sent", args=[public_list.public_key])
    assert not Recipient.objects.exists() and not smtp_sink.received


def test_too_many_sign_ups_from_one_address_are_refused_with_429(public_list, smtp_sink, settings):
    settings.MAILING_SIGNUP_PER_IP_PER_HOUR = 3
    client = Client()
    codes = [join(client, public_list, email=f"p{i}@example.net").status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Recipient.objects.count() == 3
    # Another network is not held back.
    assert join(client, public_list, email="x@example.net", ip="198.51.100.2").status_code == 302


def test_one_address_gets_a_few_mails_a_day_however_often_it_is_signed_up(
    public_list, smtp_sink, settings
):
    settings.MAILING_SIGNUP_MAILS_PER_ADDRESS_PER_DAY = 2
    client = Client()
    for n in range(4):
        assert join(client, public_list, ip=f"192.0.2.{n}").status_code == 302
    assert len(smtp_sink.received) == 2


def test_bad_input_is_shown_next_to_the_field_and_stores_nothing(public_list, smtp_sink):
    response = join(Client(), public_list, email="not an address")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    response = join(Client(), public_list, full_name="Bad\x1bname")
    assert response.status_code == 400
    assert not Recipient.objects.exists() and not smtp_sink.received


def test_a_list_that_is_not_public_has_no_sign_up_page(user, smtp_sink):
    private = RecipientList.objects.create(owner=user, name="Private")
    assert Client().get(reverse("signup:join", args=[private.public_key])).status_code == 404
    assert join(Client(), private).status_code == 404
    assert Client().get(reverse("signup:join", args=["nope"])).status_code == 404
    assert not Recipient.objects.exists()


def test_a_mail_server_that_refuses_the_mail_leaves_the_visitor_the_same_page(
    public_list, smtp_sink
):
    smtp_sink.refuse_mail_from("451 4.3.0 try later")
    response = join(Client(), public_list)
    assert response.status_code == 302
    assert Membership.objects.get().status == Membership.Status.PENDING


def test_the_confirmation_mail_is_in_the_visitors_language(public_list, smtp_sink):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    join(client, public_list)
    mail = smtp_sink.received[0].message
    body = mail.get_payload(decode=True).decode("utf-8")
    assert "подтвердите" in body.lower() or "ссылк" in body.lower()


def test_the_service_refuses_what_the_form_would(public_list):
    with pytest.raises(Exception) as raised:
        services.signup_request(recipient_list=public_list, email="x" * 250 + "@e.org")
    assert "email" in raised.value.message_dict  # type: ignore[attr-defined]


# --- The block an editor places on a page ----------------------------------------------------


def test_an_editor_places_the_form_on_a_post_and_a_visitor_signs_up_from_it(public_list, smtp_sink):
    from blog.blocks import SignupFormBlock
    from blog.tests.factories import make_post

    block = SignupFormBlock()
    address = f"https://site.example/join/{public_list.public_key}/"
    cleaned = block.clean(block.to_python({"list_key": address, "heading": "Stay in touch"}))
    assert cleaned["list_key"] == public_list.public_key
    post = make_post(
        "Spring",
        body=[
            {"type": "paragraph", "value": "<p>Spring.</p>"},
            {"type": "signup", "value": {"list_key": public_list.public_key, "heading": "Stay"}},
        ],
    )
    client = Client(enforce_csrf_checks=True)
    html = client.get(post.url).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*data-csrf-token-url="([^"]+)"', html
    )
    assert form is not None, html
    action, token_url = form[1], form[2]
    assert action == reverse("signup:join", args=[public_list.public_key])
    assert f'name="source" value="{post.url}"' in html

    # site.js fetches the token as the form is sent (the page is the same for everyone).
    token = client.get(token_url).json()["token"]
    response = client.post(
        action,
        {"csrfmiddlewaretoken": token, "email": "reader@example.net", "source": post.url},
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 302
    membership = Membership.objects.get()
    assert membership.consent_source.endswith(post.url)
    assert [r.rcpt_to for r in smtp_sink.received] == ["reader@example.net"]


def test_the_block_refuses_a_key_of_no_public_list_and_hides_a_list_made_private(public_list, user):
    from wagtail.blocks.struct_block import StructBlockValidationError

    from blog.blocks import SignupFormBlock

    private = RecipientList.objects.create(owner=user, name="Private")
    block = SignupFormBlock()
    for key in ("nope", private.public_key):
        with pytest.raises(StructBlockValidationError):
            block.clean(block.to_python({"list_key": key}))
    value = block.to_python({"list_key": public_list.public_key})
    assert 'data-testid="signup-block"' in block.render(value)
    RecipientList.objects.filter(pk=public_list.pk).update(is_public=False)
    assert block.render(value).strip() == ""


# --- Only confirmed addresses are mailed, and the owner sees who is waiting ------------------


def test_a_run_to_the_list_mails_confirmed_sign_ups_only(
    public_list, user, smtp_sink, make_mailing
):
    from mailing import delivery

    client = Client()
    join(client, public_list, email="waits@example.net")
    join(client, public_list, email="confirms@example.net")
    link = next(
        link_in(r.message) for r in smtp_sink.received if r.rcpt_to == "confirms@example.net"
    )
    assert client.post("/" + link.split("/", 3)[3]).status_code == 200
    mailing = make_mailing(user, recipients=[])
    mailing.lists.add(public_list)

    run = delivery.start_run(mailing=mailing)

    mailed = set(run.deliveries.values_list("recipient__email", flat=True))
    assert mailed == {"confirms@example.net"}


def test_the_owners_list_page_shows_who_waits_and_links_the_sign_up_page(
    public_list, user, client_for, smtp_sink
):
    join(Client(), public_list, email="waits@example.net")
    html = (
        client_for(user).get(reverse("mailing:list_detail", args=[public_list.pk])).content.decode()
    )
    assert "1 waiting for confirmation" in html
    assert reverse("signup:join", args=[public_list.public_key]) in html


def test_send_to_all_my_recipients_leaves_out_addresses_waiting_to_confirm(
    public_list, user, smtp_sink
):
    from mailing import delivery
    from mailing.models import Message

    join(Client(), public_list, email="waits@example.net")
    kept = Recipient.objects.create(owner=user, email="kept@example.net", full_name="K")
    message = Message.objects.create(owner=user, subject="Hi", body="Hello")
    now = timezone.now()
    mailing = services.mailing_create(
        owner=user,
        message=message,
        all_recipients=True,
        first_send_at=now + timedelta(hours=1),
        end_at=now + timedelta(days=1),
    )
    assert list(mailing.recipients.all()) == [kept]
    run = delivery.start_run(mailing=mailing)
    assert set(run.deliveries.values_list("recipient__email", flat=True)) == {"kept@example.net"}
