"""Redis down locks nobody out: with the production cache and session settings, against a
Redis server this test starts, stops, freezes and starts again (never the shared one).

The circuit breaker's clock is the test's: it moves only when the test says so, so what is
asserted (who reached Redis, what it holds) never depends on how fast the machine is."""

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from conftest import PASSWORD
from site_project.redis_cache import circuit_for
from site_project.redis_process import RedisProcess
from site_project.settings import base

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def redis_server(settings, clock: Clock) -> Iterator[RedisProcess]:
    """Production's caches, sessions and rate limits, on a Redis of this test's own."""
    with RedisProcess() as server:
        circuit_for(server.url).clock = clock
        settings.CACHES = base.redis_caches(server.url)
        settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
        settings.SESSION_CACHE_ALIAS = "sessions"
        settings.ACCOUNT_RATE_LIMITS = base.ACCOUNT_RATE_LIMITS
        yield server


def session_keys(server: RedisProcess) -> list[str]:
    return server.keys("*django.contrib.sessions.cached_db*")


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_with_redis_stopped_a_person_signs_in_signs_up_and_resets_a_password(
    redis_server, make_user, client, mailoutbox
):
    user = make_user("alice@example.com")
    redis_server.stop()

    signed_in = sign_in(client, user.email)
    assert signed_in.status_code == 302, signed_in.content.decode()[:500]
    assert signed_in["Location"] == reverse("mailing:dashboard")
    assert client.get(reverse("mailing:dashboard")).status_code == 200  # the session holds

    newcomer = Client()
    signed_up = newcomer.post(
        reverse("account_signup"),
        {
            "email": "new@example.com",
            "password1": "A-long-new-pass-1",
            "password2": "A-long-new-pass-1",
        },
    )
    assert signed_up.status_code == 302
    assert signed_up["Location"] == reverse("account_email_verification_sent")

    reset = Client().post(reverse("account_reset_password"), {"email": user.email})
    assert reset.status_code == 302
    assert reset["Location"] == reverse("account_reset_password_done")
    assert {tuple(mail.to) for mail in mailoutbox} >= {("new@example.com",), (user.email,)}
    # Public pages keep answering too.
    assert Client().get("/").status_code == 200


def test_with_redis_stopped_guessing_passwords_is_still_limited(redis_server, make_user):
    user = make_user("alice@example.com")
    redis_server.stop()
    client = Client()

    for _ in range(5):  # ACCOUNT_RATE_LIMITS["login_failed"]: 5 per 5 minutes per address
        refused = sign_in(client, user.email, "wrong-guess")
        assert refused.status_code == 200
        assert "not correct" in refused.content.decode()
    locked = sign_in(client, user.email, "wrong-guess")

    assert locked.status_code == 200
    assert "Too many failed login attempts" in locked.content.decode()


def test_a_redis_that_does_not_answer_costs_one_timeout_per_period_not_one_per_call(
    redis_server, make_user, clock
):
    user = make_user("alice@example.com")
    client = Client()
    assert sign_in(client, user.email).status_code == 302
    circuit = circuit_for(redis_server.url)
    redis_server.freeze()  # connections hang until their socket timeout

    for _ in range(3):
        assert client.get(reverse("mailing:dashboard")).status_code == 200
        assert Client().get("/").status_code == 200

    # Only the first call waited for Redis; every later one skipped it.
    assert circuit.failures == 1
    redis_server.thaw()
    clock.advance(5)
    assert client.get(reverse("mailing:dashboard")).status_code == 200
    assert circuit.is_open is False
    assert circuit.failures == 1


def test_signing_out_while_redis_is_away_stays_signed_out_when_it_comes_back(
    redis_server, make_user, clock
):
    user = make_user("alice@example.com")
    client = Client()
    assert sign_in(client, user.email).status_code == 302
    assert client.get(reverse("mailing:dashboard")).status_code == 200
    old_cookie = client.cookies["sessionid"].value
    assert len(session_keys(redis_server)) == 1  # the session is cached in Redis
    redis_server.freeze()  # Redis keeps its data, but cannot be reached

    assert client.post(reverse("account_logout")).status_code == 302

    redis_server.thaw()
    clock.advance(5)
    stolen = Client()
    stolen.cookies["sessionid"] = old_cookie
    answer = stolen.get(reverse("mailing:dashboard"))
    assert answer.status_code == 302
    assert answer["Location"].startswith(reverse("account_login"))
    assert session_keys(redis_server) == []  # the stale copy was deleted when Redis came back


def test_after_a_restart_sessions_are_cached_in_redis_again(redis_server, make_user, clock):
    user = make_user("alice@example.com")
    redis_server.stop()
    client = Client()
    assert sign_in(client, user.email).status_code == 302

    redis_server.start()
    clock.advance(5)

    assert client.get(reverse("mailing:dashboard")).status_code == 200
    assert len(session_keys(redis_server)) == 1
    assert circuit_for(redis_server.url).is_open is False
