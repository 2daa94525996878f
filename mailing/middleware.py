"""What every dashboard answer shares, whichever view (or exception) produced it."""

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.core.handlers.exception import get_exception_response
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver, get_urlconf, reverse
from django.utils.cache import patch_cache_control
from django.utils.functional import SimpleLazyObject

from core.refusals import log_refusal

_DASHBOARD_PREFIX = SimpleLazyObject(lambda: reverse("mailing:dashboard"))


class DashboardMiddleware:
    """* Every answer under /dashboard/ is private to the signed-in user and revalidated
      (`Cache-Control: private, no-cache`): pages, redirects, and the 403/404 answers that views
      raise as exceptions alike.
    * A PermissionDenied is logged once, by `core.refusals.log_refusal`, instead of by
      django.request with a traceback; the answer is the site's usual 403 page.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(str(_DASHBOARD_PREFIX)):
            patch_cache_control(response, private=True, no_cache=True)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PermissionDenied):
            return None
        log_refusal(request, reason=str(exception) or "permission denied")
        response = get_exception_response(request, get_resolver(get_urlconf()), 403, exception)
        # Django's own mark of a logged response: django.request would otherwise log this 403
        # a second time (BaseHandler.get_response logs every 4xx it has not seen logged).
        response._has_been_logged = True  # type: ignore[attr-defined]
        return response
