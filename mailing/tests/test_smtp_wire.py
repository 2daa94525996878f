"""The SMTP client on the wire: pipelining where the server offers it, STARTTLS, AUTH, against
a real server on loopback."""

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator

import pytest

from mailing import delivery
from mailing.models import Attempt, Delivery, Mailing
from mailing.smtp_sink import SmtpSink
from mailing.transport import Reply, SmtpConnection

PENDING, SENT, FAILED = Delivery.State.PENDING, Delivery.State.SENT, Delivery.State.FAILED


@pytest.fixture
def use_sink(settings):
    """Point the engine at a sink made by the test."""

    def use(sink: SmtpSink) -> SmtpSink:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 1
        settings.MAILING_MAX_TRIES, settings.MAILING_RETRY_BASE_SECONDS = 3, 60
        settings.MAILING_SENDER_CONNECTIONS = 1
        return sink

    return use


@pytest.fixture
def pipelining_sink(use_sink) -> Iterator[SmtpSink]:
    with SmtpSink(slow_seconds=1.5, pipelining=True) as sink:
        yield use_sink(sink)


def states(mailing: Mailing) -> dict[str, tuple[str, str]]:
    """email → (delivery state, the last attempt's reply)."""
    replies = dict(
        Attempt.objects.filter(mailing=mailing)
        .order_by("pk")
        .values_list("email", "server_response")
    )
    rows = Delivery.objects.filter(run__mailing=mailing).values_list("recipient__email", "state")
    return {email: (state, replies.get(email, "")) for email, state in rows}


def test_the_connection_pipelines_when_the_server_offers_it(pipelining_sink):
    async def send() -> tuple[bool, Reply | None, Reply]:
        connection = SmtpConnection()
        assert await connection.open() is None
        refusal = await connection.begin("noreply@example.com", "someone@example.org")
        reply = await connection.commit(b"Subject: hi\r\n\r\nHello.\r\n")
        await connection.close()
        return connection.pipelining, refusal, reply

    pipelining, refusal, reply = asyncio.run(send())

    assert pipelining
    assert refusal is None
    assert reply.code == 250
    [received] = pipelining_sink.received
    assert received.rcpt_to == "someone@example.org"
    assert received.message["Subject"] == "hi"


@pytest.mark.parametrize(
    ("script", "state", "reply_start"),
    [
        ("451", PENDING, "451 4.3.0"),
        ("rcpt:550", FAILED, "550 5.1.1"),
        ("550", FAILED, "550 5.1.1"),
        ("disconnect", PENDING, "The mail server closed the connection"),
        ("garbage", PENDING, "Unreadable reply from the mail server: HELLO this is not SMTP"),
        ("slow", PENDING, "No reply from the mail server within 1 s"),
    ],
)
def test_with_pipelining_every_fault_ends_as_it_does_without(
    user, make_mailing, pipelining_sink, script, state, reply_start
):
    mailing = make_mailing(user, recipients=3)
    first, *others = sorted(mailing.recipients.values_list("email", flat=True))
    pipelining_sink.script(first, script)
    delivery.start_run(mailing=mailing)

    delivery.deliver()

    result = states(mailing)
    assert result[first][0] == state
    assert result[first][1].startswith(reply_start)
    assert all(result[email][0] == SENT for email in others)
    assert all(pipelining_sink.count_for(email) == 1 for email in others)


def test_with_pipelining_a_refused_sender_is_a_refused_session(user, make_mailing, pipelining_sink):
    mailing = make_mailing(user, recipients=2)
    pipelining_sink.refuse_mail_from("550 5.7.1 Sender rejected", "550 5.7.1 Sender rejected")
    delivery.start_run(mailing=mailing)

    report = delivery.deliver()

    assert (report.sent, report.failed, report.deferred) == (0, 0, 2)
    assert all(
        state == PENDING and reply.startswith("550 5.7.1 Sender rejected (try 1 of 3")
        for state, reply in states(mailing).values()
    )


def test_a_server_that_never_greets_is_a_timeout_and_a_retry(user, make_mailing, use_sink):
    """It accepts the connection and says nothing (a wedged server, a firewall): the try ends
    after EMAIL_TIMEOUT instead of waiting for ever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever answers
        use_sink(SmtpSink(port=silent.getsockname()[1]))  # only its address
        mailing = make_mailing(user, recipients=2)
        delivery.start_run(mailing=mailing)

        report = delivery.deliver()

    assert (report.sent, report.deferred) == (0, 2)
    for state, reply in states(mailing).values():
        assert state == PENDING
        assert reply.startswith("No reply from the mail server within 1 s (connect)")


@pytest.mark.parametrize(
    ("password", "sent", "reply_start"),
    [("s3cret", 2, "250"), ("wrong", 0, "535 5.7.8 Authentication credentials invalid")],
)
def test_the_sender_logs_in_when_the_server_asks(
    user, make_mailing, use_sink, settings, password, sent, reply_start
):
    with SmtpSink(auth=("mailer", "s3cret")) as sink:
        use_sink(sink)
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "mailer", password
        mailing = make_mailing(user, recipients=2)
        delivery.start_run(mailing=mailing)

        report = delivery.deliver()

        assert report.sent == sent
        assert sink.total == sent
        # A refused login is about our session: retried later, nobody failed.
        assert {state for state, _ in states(mailing).values()} == {SENT if sent else PENDING}
        assert all(reply.startswith(reply_start) for _, reply in states(mailing).values())


@pytest.fixture
def certificate(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [shutil.which("openssl") or "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "unknown-certificate"])
def test_starttls_is_used_and_the_certificate_checked(
    user, make_mailing, use_sink, settings, certificate, monkeypatch, trusted
):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    if trusted:
        monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client's trust store: our certificate
    with SmtpSink(tls_context=server_context) as sink:  # MAIL FROM only after STARTTLS
        use_sink(sink)
        settings.EMAIL_USE_TLS = True
        mailing = make_mailing(user, recipients=2)
        delivery.start_run(mailing=mailing)

        report = delivery.deliver()

        if trusted:
            assert report.sent == sink.total == 2
        else:
            assert (report.sent, report.deferred, sink.total) == (0, 2, 0)
            assert all(
                state == PENDING and "CERTIFICATE_VERIFY_FAILED" in reply
                for state, reply in states(mailing).values()
            )
