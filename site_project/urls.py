from django.conf import settings
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.documents import urls as wagtaildocs_urls

# Wagtail's own sign-in pages would let an unconfirmed address in and skip allauth's rate
# limits: send them to allauth's, keeping ?next=. Listed before the Wagtail includes, which
# would otherwise answer these paths.
to_allauth_login = RedirectView.as_view(pattern_name="account_login", query_string=True)

urlpatterns = [
    path("admin/login/", to_allauth_login),
    path("_util/login/", to_allauth_login),
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("accounts/", include("allauth.urls")),
    path("accounts/", include("users.urls")),
    path("dashboard/", include("mailing.urls")),
    path("dashboard/users/", include("users.dashboard_urls")),
]

if settings.SERVE_MEDIA:
    from django.views.static import serve

    urlpatterns += [
        re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]

# Everything else is a Wagtail page: keep this last.
urlpatterns += [path("", include(wagtail_urls))]
