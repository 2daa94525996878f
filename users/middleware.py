from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import preferences


class UserPreferencesMiddleware:
    """A signed-in user's language and time zone for the whole request (after
    AuthenticationMiddleware; LocaleMiddleware has chosen from the cookie and the browser).

    Their language also goes into the language cookie: after signing out the site keeps
    speaking it in this browser."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        preferences.apply_to_request(request)
        response = self.get_response(request)
        user = getattr(request, "user", None)  # signed in or out by this request, maybe
        if user is not None and user.is_authenticated:
            language = preferences.language_of(user)
            if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
                response.set_cookie(
                    settings.LANGUAGE_COOKIE_NAME,
                    language,
                    max_age=settings.LANGUAGE_COOKIE_AGE,
                    path=settings.LANGUAGE_COOKIE_PATH,
                    domain=settings.LANGUAGE_COOKIE_DOMAIN,
                    secure=settings.LANGUAGE_COOKIE_SECURE,
                    httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                    samesite=settings.LANGUAGE_COOKIE_SAMESITE,
                )
        return response
