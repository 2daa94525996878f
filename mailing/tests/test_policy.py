"""The retry policy, table-wise: what each kind of reply does to a delivery."""

from datetime import UTC, datetime, timedelta

import pytest

from mailing.delivery import Decision, Policy, RetryPolicy, Throttle
from mailing.models import Delivery
from mailing.transport import Reply

SENT, PENDING, FAILED = Delivery.State.SENT, Delivery.State.PENDING, Delivery.State.FAILED
AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_tries=3, retry_base_seconds=60)

TIMEOUT = Reply(
    0, "No reply from the mail server within 30 s (waiting for the reply to DATA)", True
)
REFUSED = Reply(0, "Connection refused by the mail server", broken=True)
DROPPED = Reply(0, "The mail server closed the connection (sending)", broken=True)
GARBAGE = Reply(0, "Unreadable reply from the mail server: HELLO", broken=True)
UNBUILDABLE = Reply(0, "Not sent: the message cannot be built (linefeed)", final=True)


@pytest.mark.parametrize(
    ("reply", "tries", "state", "retry_in"),
    [
        # Accepted.
        (Reply(250, "2.0.0 Ok: queued as 4F2"), 0, SENT, None),
        (Reply(251, "2.1.5 User not local; will forward"), 2, SENT, None),
        # Temporary: retried after 1, 2, 4… times the base, until the tries run out.
        (Reply(421, "4.3.2 Service shutting down", broken=True), 0, PENDING, 60),
        (Reply(451, "4.3.0 Temporary local problem"), 1, PENDING, 120),
        (Reply(452, "4.2.2 Mailbox full"), 2, FAILED, None),
        (TIMEOUT, 0, PENDING, 60),
        (REFUSED, 1, PENDING, 120),
        (DROPPED, 0, PENDING, 60),
        (GARBAGE, 0, PENDING, 60),
        # Permanent: at once, however many tries are left.
        (Reply(550, "5.1.1 Mailbox unavailable"), 0, FAILED, None),
        (Reply(554, "5.7.1 Message rejected as spam"), 1, FAILED, None),
        (Reply(553, "The address is not plain ASCII and cannot be sent to"), 0, FAILED, None),
        (UNBUILDABLE, 0, FAILED, None),
        # A refused session (greeting, EHLO, AUTH, MAIL FROM) is about us: retried even at 5xx,
        # and like any temporary failure it runs out of tries.
        (Reply(554, "5.7.1 Client host blocked", broken=True, session=True), 0, PENDING, 60),
        (Reply(535, "5.7.8 Authentication failed", broken=True, session=True), 1, PENDING, 120),
        (Reply(550, "5.7.1 Sender rejected", session=True), 2, FAILED, None),
    ],
)
def test_each_reply_decides_the_next_state_and_when_to_try_again(reply, tries, state, retry_in):
    decision = POLICY.decide(reply, tries=tries, at=AT)

    assert decision.state == state
    assert decision.retry_at == (AT + timedelta(seconds=retry_in) if retry_in else None)
    assert decision.ok is (state == SENT)


@pytest.mark.parametrize(
    ("reply", "tries", "note"),
    [
        (Reply(250, "2.0.0 Ok: queued as 4F2"), 0, "250 2.0.0 Ok: queued as 4F2"),
        (Reply(451, "4.3.0 Try later"), 0, "451 4.3.0 Try later (try 1 of 3; next at 09:01:00)"),
        (REFUSED, 1, f"{REFUSED.text} (try 2 of 3; next at 09:02:00)"),
        # The last try and a permanent failure say only what the server said.
        (Reply(451, "4.3.0 Try later"), 2, "451 4.3.0 Try later"),
        (Reply(550, "5.1.1 No such user"), 0, "550 5.1.1 No such user"),
    ],
)
def test_the_attempt_records_the_reply_and_for_a_retry_when_it_comes(reply, tries, note, settings):
    settings.TIME_ZONE = "UTC"

    assert POLICY.decide(reply, tries=tries, at=AT).note == note


def test_the_retry_time_is_written_in_the_sites_time_zone(settings):
    settings.TIME_ZONE = "Europe/Moscow"  # UTC+3

    decision = POLICY.decide(Reply(451, "4.3.0 Try later"), tries=0, at=AT)

    assert decision.note.endswith("(try 1 of 3; next at 12:01:00)")
    assert decision.retry_at == AT + timedelta(seconds=60)  # the instant itself is UTC


def test_the_policy_is_built_from_settings_once(settings):
    settings.MAILING_MAX_TRIES = 0  # nonsense: one try, never fewer
    settings.MAILING_RETRY_BASE_SECONDS = 30

    policy = Policy.from_settings()

    assert policy.retry == RetryPolicy(max_tries=1, retry_base_seconds=30)
    assert policy.retry.decide(Reply(451, "busy"), tries=0, at=AT).state == FAILED
    assert isinstance(policy.throttle, Throttle)


class _Recognising(RetryPolicy):
    """A policy that knows a provider's "slow down" wording (the deliverability work)."""

    @staticmethod
    def is_throttling(reply: Reply) -> bool:
        return reply.code == 421 and "rate" in reply.text


class _Listening(Throttle):
    def __init__(self) -> None:
        self.told: list[Reply] = []

    def slow_down(self, reply: Reply) -> None:
        self.told.append(reply)


def test_a_throttling_reply_is_retried_and_tells_the_throttle():
    throttle = _Listening()
    policy = Policy(retry=_Recognising(max_tries=3, retry_base_seconds=60), throttle=throttle)
    slow_down = Reply(421, "4.7.0 Message rate exceeded, slow down")

    decision = policy.judge(slow_down, tries=0, at=AT)
    other = policy.judge(Reply(421, "4.3.2 Shutting down"), tries=0, at=AT)

    assert decision == Decision(PENDING, AT + timedelta(seconds=60), decision.note, True)
    assert not other.throttling
    assert throttle.told == [slow_down]
