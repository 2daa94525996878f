"""`{{ web_url }}`: a campaign message's web version, for a reader whose mail client shows it
badly.

The link names the message through a signed token (`django.core.signing`, its own salt): it
cannot be altered to show another message, and it works without signing in, as the mail's
readers have no account. The page is the message's HTML part rendered for nobody in particular
(the recipient's variables are empty: write `{{ first_name|default:"…" }}` where that reads
badly), served like the dashboard's preview: a sandbox policy, no script, no form.
"""

import html

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from .content.rich import RichMessage
from .content.templating import TemplateError
from .models import Message

_SALT = "mailing.web"
POLICY = (
    "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
    "style-src 'unsafe-inline'; img-src http: https: data:; base-uri 'none'; form-action 'none'"
)


def web_url(*, message_id: int) -> str:
    """The absolute address of the message's web version (on settings.SITE_URL)."""
    token = signing.dumps(message_id, salt=_SALT, compress=True)
    return settings.SITE_URL.rstrip("/") + reverse("mailing_web", args=[token])


@require_safe
def web_version(request: HttpRequest, token: str) -> HttpResponse:
    try:
        message_id = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise Http404 from None
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        raise Http404
    page = _page(message)
    response = sandboxed_response(page, policy=POLICY)
    response["Referrer-Policy"] = "no-referrer"  # the token stays off other sites' logs
    return response


def sandboxed_response(html: str, *, policy: str) -> HttpResponse:
    """A mail's HTML as a page of its own, under `policy` instead of the site's.

    django-csp leaves a response that has the header alone, but a 304 would not: the
    conditional-GET middleware answers a revalidation with a fresh response that carries only
    the site's policy, and the browser applies it to the copy it kept (inline styles refused,
    sandbox gone). `no-store` means no ETag, no copy and no revalidation."""
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = policy
    response["X-Robots-Tag"] = "noindex"
    patch_cache_control(response, no_store=True)
    return response


def _page(message: Message) -> str:
    if message.format == Message.Format.MARKDOWN:
        try:
            rich = RichMessage(
                subject=message.subject,
                body=message.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                reply_to="",
                run_id=0,
                owner_id=message.owner_id,
            )
        except TemplateError:
            raise Http404 from None
        return rich.parts({})[2]
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(message.subject)}"
        f"</title></head><body><pre style='white-space: pre-wrap'>{html.escape(message.body)}"
        "</pre></body></html>"
    )
