"""The public side of lists: a sign-up page per public list and the confirmation link.

Anonymous pages, never cached. The sign-up answers "check your inbox" whatever the address
(new, pending, a member already, suppressed, a robot caught by the honeypot): the page a
visitor gets says nothing about who is on the list. Sign-ups are limited per IP address
(MAILING_SIGNUP_PER_IP_PER_HOUR, counted in the shared cache; too many answer 429).
"""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache

from core.views import show_errors

from . import selectors, services, signup
from .forms import SignupForm
from .models import RecipientList

logger = logging.getLogger("mailing.signup")


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _source(request: HttpRequest, given: str) -> str:
    """The page the visitor signed up on: the page that holds the form (a same-site address
    it posts along), or this sign-up page."""
    allowed = {request.get_host()}
    if given and url_has_allowed_host_and_scheme(given, allowed_hosts=allowed):
        return given if given.startswith("http") else settings.SITE_URL.rstrip("/") + given
    return request.build_absolute_uri(request.path)


@method_decorator(never_cache, name="dispatch")
class JoinView(View):
    """GET: the list's sign-up form. POST: ask for the confirmation mail."""

    template_name = "mailing/public/join.html"

    def render(self, request: HttpRequest, lst: RecipientList, form: SignupForm, **kw: Any):
        return render(request, self.template_name, {"list": lst, "form": form}, **kw)

    def get(self, request: HttpRequest, key: str) -> HttpResponse:
        lst = selectors.public_list(key=key)
        return self.render(request, lst, SignupForm())

    def post(self, request: HttpRequest, key: str) -> HttpResponse:
        lst = selectors.public_list(key=key)
        ip = _client_ip(request)
        if not services.ip_may_sign_up(ip):
            logger.warning("signup.rate_limited", extra={"list_id": lst.pk, "ip": ip})
            return render(request, "mailing/public/too_many.html", {"list": lst}, status=429)
        form = SignupForm(request.POST)
        if not form.is_valid():
            return self.render(request, lst, form, status=400)
        data = form.cleaned_data
        if data["website"]:
            logger.info("signup.honeypot", extra={"list_id": lst.pk, "ip": ip})
            return redirect("signup:sent", key)
        try:
            services.signup_request(
                recipient_list=lst,
                email=data["email"],
                full_name=data["full_name"],
                source=_source(request, data["source"]),
                ip=ip,
            )
        except ValidationError as error:
            show_errors(form, error)
            return self.render(request, lst, form, status=400)
        return redirect("signup:sent", key)


@never_cache
def sent(request: HttpRequest, key: str) -> HttpResponse:
    """ "Check your inbox": the one answer to every sign-up."""
    lst = selectors.public_list(key=key)
    return render(request, "mailing/public/sent.html", {"list": lst})


@method_decorator(never_cache, name="dispatch")
class ConfirmView(View):
    """GET: the link from the mail, with a button (a mail scanner that follows links confirms
    nothing). POST: confirm, once."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            signup.read_token(token)
        except signup.BadToken:
            return render(request, "mailing/public/confirm_invalid.html", status=400)
        return render(
            request,
            "mailing/public/confirm.html",
            {"action": reverse("signup:confirm", args=[token])},
        )

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            membership, outcome = services.signup_confirm(token=token)
        except signup.BadToken:
            return render(request, "mailing/public/confirm_invalid.html", status=400)
        return render(
            request,
            "mailing/public/confirmed.html",
            {"list": membership.list, "already": outcome == "used"},
        )
