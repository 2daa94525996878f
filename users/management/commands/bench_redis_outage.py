"""How long a sign-in takes while Redis is up, stopped or not answering: the site's settings
beside django-redis's plain backend with the session cache engine (what the site used before
the circuit breaker), against a private redis-server this command starts and stops.

Everything it writes (an account, its sessions) is rolled back at the end.
"""

import statistics
import time
from collections.abc import Callable

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse

from site_project.redis_cache import circuit_for
from site_project.redis_process import RedisProcess
from site_project.settings import base
from users.models import User

EMAIL = "bench-redis-outage@example.com"
PASSWORD = "bench-redis-outage-pass-1"  # noqa: S105 - a throw-away account, rolled back
TARGET_SECONDS = 2.0


def legacy_caches(url: str) -> dict:
    redis = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "site",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
    }
    return {"default": redis, "sessions": dict(redis)}


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time sign-ins with Redis up, stopped and frozen (needs redis-server)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rounds", type=int, default=5, help="Sign-ins per scenario.")
        parser.add_argument(
            "--skip-legacy-unlimited",
            action="store_true",
            help="Skip the old settings with rate limits off and Redis stopped (10-25 s).",
        )

    def handle(self, *args, rounds: int, skip_legacy_unlimited: bool, **options) -> None:
        rows: list[tuple[str, str, str, list[float], list[int]]] = []
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=EMAIL, password=PASSWORD)
                EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
                rows = self._measure(rounds, skip_legacy_unlimited)
                raise Rollback
        except Rollback:
            pass

        self.stdout.write(
            f"{'settings':<10} {'limits':<7} {'redis':<8} {'p50':>8} {'max':>8}  answers"
        )
        for name, limits, state, times, codes in rows:
            self.stdout.write(
                f"{name:<10} {limits:<7} {state:<8} {statistics.median(times):>7.3f}s "
                f"{max(times):>7.3f}s  {', '.join(str(code) for code in sorted(set(codes)))}"
            )
        for name, limits, state, times, codes in rows:
            if name != "site" or state == "up":
                continue
            ok = max(times) < TARGET_SECONDS and set(codes) == {302}
            verdict = "MET" if ok else "NOT MET"
            self.stdout.write(
                f"sign-in with Redis {state}, limits {limits}: under {TARGET_SECONDS:.0f} s "
                f"and signed in: {verdict}"
            )

    def _measure(self, rounds: int, skip_legacy_unlimited: bool) -> list:
        rows = []
        scenarios: list[tuple[str, Callable[[str], dict], str]] = [
            ("site", base.redis_caches, "django.contrib.sessions.backends.cached_db"),
            ("before", legacy_caches, "django.contrib.sessions.backends.cache"),
        ]
        for name, caches, engine in scenarios:
            for limits in ("on", "off"):
                rate_limits = base.ACCOUNT_RATE_LIMITS if limits == "on" else False
                with RedisProcess() as server:
                    circuit_for(server.url)  # a fresh circuit for this server
                    with override_settings(
                        CACHES=caches(server.url),
                        SESSION_ENGINE=engine,
                        SESSION_CACHE_ALIAS="sessions",
                        ACCOUNT_RATE_LIMITS=rate_limits,
                        ALLOWED_HOSTS=["testserver"],
                    ):
                        for state in ("up", "stopped", "frozen"):
                            if name == "before" and state == "frozen":
                                continue  # minutes per sign-in: 2 s per call, thousands of calls
                            if name == "before" and limits == "off" and state == "stopped":
                                count = 0 if skip_legacy_unlimited else 1
                            else:
                                count = rounds
                            if not count:
                                continue
                            if state == "stopped":
                                server.stop()
                            elif state == "frozen":
                                server.start()
                                server.freeze()
                            times, codes = self._sign_ins(count)
                            rows.append((name, limits, state, times, codes))
                            self.stderr.write(f"{name} limits {limits} redis {state}: done")
        return rows

    def _sign_ins(self, count: int) -> tuple[list[float], list[int]]:
        times, codes = [], []
        for _ in range(count):
            client = Client(raise_request_exception=False)
            started = time.perf_counter()
            response = client.post(reverse("account_login"), {"login": EMAIL, "password": PASSWORD})
            times.append(time.perf_counter() - started)
            codes.append(response.status_code)
        return times, codes
