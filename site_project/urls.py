from django.conf import settings
from django.urls import include, path, re_path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

from mailing.unsubscribe_views import UnsubscribeView

from .views import AllauthLoginRedirect, FaviconRedirect, csrf_token, set_language

urlpatterns = [
    # Wagtail's sign-in pages lead to allauth's; before the Wagtail includes, which would
    # otherwise answer these paths.
    path("admin/login/", AllauthLoginRedirect.as_view(default_next="/admin/")),
    path("_util/login/", AllauthLoginRedirect.as_view()),
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/csrf/", csrf_token, name="csrf_token"),
    path("favicon.ico", FaviconRedirect.as_view()),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("users.urls")),
    path("dashboard/", include("mailing.urls")),
    # The one-click unsubscribe link of campaign mail (mailing.unsubscribe.PATH_PREFIX).
    path("u/<str:token>/", UnsubscribeView.as_view(), name="unsubscribe"),
    path("dashboard/users/", include("users.dashboard_urls")),
]

if settings.SERVE_MEDIA:
    from django.views.static import serve

    urlpatterns += [
        re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]

# Everything else is a Wagtail page: keep this last.
urlpatterns += [path("", include(wagtail_urls))]
