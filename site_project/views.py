from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST
from django.views.generic import RedirectView
from django.views.i18n import set_language as django_set_language

from users import preferences


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (the language cookie, a safe redirect to `next`), which also
    remembers the choice in a signed-in user's profile."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        preferences.remember_language(user=request.user, language=language)
    return response


@never_cache
@ensure_csrf_cookie
def csrf_token(request: HttpRequest) -> JsonResponse:
    """A CSRF token (and its cookie) for a form on a page that is the same for everyone, such as
    the navbar's language switcher: site.js asks for one as the form is sent."""
    return JsonResponse({"token": get_token(request)})


class FaviconRedirect(RedirectView):
    """/favicon.ico, which browsers ask for on their own, is the static icon."""

    def get_redirect_url(self, *args, **kwargs) -> str:
        return static("favicon.ico")


class AllauthLoginRedirect(RedirectView):
    """Wagtail's own sign-in pages would let an unconfirmed address in and skip allauth's rate
    limits: send them to allauth's, keeping the query string (?next=). `default_next` is
    where a sign-in from here goes on to when the link had no ?next (the admin's dashboard for
    /admin/login/, as Wagtail's own page did)."""

    default_next = ""

    def get_redirect_url(self, *args, **kwargs) -> str:
        query = self.request.GET.copy()
        if self.default_next and not query.get("next"):
            query["next"] = self.default_next
        login = reverse("account_login")
        return f"{login}?{query.urlencode()}" if query else login
