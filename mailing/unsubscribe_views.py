"""The page an unsubscribe link opens (RFC 8058): no login, no CSRF token, one click.

GET shows one button and changes nothing (a link scanner or a mail client's preview only
reads); POST unsubscribes and answers 200, whether it comes from that button or from the
mail client's one-click `List-Unsubscribe=One-Click` request. A token this site did not make
(altered, truncated, foreign) gets a 400 page and changes nothing.

CSRF protection is off for this view only: the one-click POST comes from a mail provider's
server, which has no cookie and no token; the token in the URL is what authorises it.
"""

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from . import services
from .unsubscribe import BadToken, Subscriber, read_token

TEMPLATE = "mailing/unsubscribe.html"


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class UnsubscribeView(View):
    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(token)
        if subscriber is None:
            return _bad_token(request)
        return self._page(request, subscriber, done=False)

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _subscriber(token)
        if subscriber is None:
            return _bad_token(request)
        one_click = request.POST.get("List-Unsubscribe") == "One-Click"
        services.unsubscribe(
            subscriber=subscriber,
            detail="One-click unsubscribe from the mail client"
            if one_click
            else "Unsubscribe page",
        )
        return self._page(request, subscriber, done=True)

    def _page(self, request: HttpRequest, subscriber: Subscriber, *, done: bool) -> HttpResponse:
        owner = get_user_model().objects.filter(pk=subscriber.owner_id).first()
        context: dict[str, Any] = {
            "email": subscriber.email,
            "sender": owner.get_full_name() if owner is not None else "",
            "done": done,
        }
        response = render(request, TEMPLATE, context)
        response["X-Robots-Tag"] = "noindex"
        return response


def _subscriber(token: str) -> Subscriber | None:
    try:
        return read_token(token)
    except BadToken:
        return None


def _bad_token(request: HttpRequest) -> HttpResponse:
    response = render(request, TEMPLATE, {"bad_token": True}, status=400)
    response["X-Robots-Tag"] = "noindex"
    return response
