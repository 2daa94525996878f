"""Fixtures shared by every test package: accounts, campaign data, a real SMTP server."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from django.utils import timezone, translation

from mailing.delivery import add_daily_stats
from mailing.models import Attempt, Mailing, Message, Recipient
from mailing.smtp_sink import SmtpSink
from users.groups import MANAGERS
from users.models import User

PASSWORD = "correct-horse-battery-staple"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Transactional tests (threads, subprocesses, the live server) end with a flush that
    empties every table, including what migrations created: Wagtail's root page and
    collection, the home page, the role groups. Serialized rollback reloads that content
    before each of them, so no test depends on the order tests run in."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
            {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
        )
        if transactional:
            item.add_marker(
                pytest.mark.django_db(transaction=True, serialized_rollback=True), append=False
            )


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache (Redis in CI, local memory otherwise)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language_and_time_zone() -> Iterator[None]:
    """Each test ends back in LANGUAGE_CODE and TIME_ZONE: a request in Russian, or by a user
    in another time zone, leaves them active in this thread (as LocaleMiddleware does)."""
    yield
    translation.deactivate()
    timezone.deactivate()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(
        email: str = "user@example.com",
        *,
        password: str = PASSWORD,
        verified: bool = True,
        manager: bool = False,
        blocked: bool = False,
        **fields,
    ) -> User:
        user = User.objects.create_user(email=email, password=password, **fields)
        EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
        if manager:
            user.groups.add(Group.objects.get(name=MANAGERS))
        if blocked:
            User.objects.filter(pk=user.pk).update(is_blocked=True)
            user.refresh_from_db()
        return user

    return make


@pytest.fixture
def user(make_user) -> User:
    return make_user("alice@example.com", first_name="Alice")


@pytest.fixture
def other_user(make_user) -> User:
    return make_user("bob@example.com", first_name="Bob")


@pytest.fixture
def manager(make_user) -> User:
    return make_user("manager@example.com", manager=True)


@pytest.fixture
def client_for() -> Callable[[User], Client]:
    def login(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def make_mailing(db) -> Callable[..., Mailing]:
    """A mailing of `owner` to `recipients` new addresses (or the given Recipient list)."""

    def make(
        owner: User,
        *,
        recipients: int | list[Recipient] = 2,
        subject: str = "Hello",
        body: str = "Hello there.",
        periodicity: str = Mailing.Periodicity.ONCE,
        first_send_at=None,
        end_at=None,
        domain: str = "example.org",
    ) -> Mailing:
        now = timezone.now()
        first_send_at = first_send_at or now - timedelta(minutes=1)
        end_at = end_at or first_send_at + timedelta(days=30)
        message = Message.objects.create(owner=owner, subject=subject, body=body)
        mailing = Mailing.objects.create(
            owner=owner,
            message=message,
            first_send_at=first_send_at,
            end_at=end_at,
            periodicity=periodicity,
            schedule_anchor=first_send_at,
            next_send_at=first_send_at,
        )
        if isinstance(recipients, int):
            start = Recipient.objects.filter(owner=owner).count()
            recipients = Recipient.objects.bulk_create(
                Recipient(
                    owner=owner,
                    email=f"r{start + i}.{owner.pk}@{domain}",
                    full_name=f"Recipient {start + i}",
                )
                for i in range(recipients)
            )
        mailing.recipients.set(recipients)
        return mailing

    return make


@pytest.fixture
def record_attempt(db) -> Callable[..., Attempt]:
    """An attempt as the delivery engine records it: the row and its share of the daily totals."""

    def record(
        mailing: Mailing,
        *,
        email: str = "someone@example.org",
        status: str = Attempt.Status.SUCCESS,
        server_response: str = "250 2.0.0 Ok",
        at=None,
        recipient: Recipient | None = None,
    ) -> Attempt:
        at = at or timezone.now()
        attempt = Attempt.objects.create(
            mailing=mailing,
            recipient=recipient,
            email=email,
            status=status,
            server_response=server_response,
            attempted_at=at,
        )
        success = status == Attempt.Status.SUCCESS
        add_daily_stats({(mailing.pk, timezone.localdate(at)): (int(success), int(not success))})
        return attempt

    return record


@pytest.fixture
def smtp_sink(settings) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback; Django and the delivery engine are pointed at it."""
    with SmtpSink(slow_seconds=1.5) as sink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = sink.host
        settings.EMAIL_PORT = sink.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        settings.MAILING_RETRY_BASE_SECONDS = 60
        settings.MAILING_MAX_TRIES = 3
        yield sink
