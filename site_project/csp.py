"""django-csp's middleware, with the looser policy Wagtail's admin needs under /admin/ only.

The public site and the dashboard run no inline script and no inline style (CONTENT_SECURITY_POLICY
in settings): an injected `<script>` or `onclick=` does nothing. Wagtail's admin still writes
inline scripts and style attributes, and its live preview is a same-origin frame, so its pages
get WAGTAIL_ADMIN_CSP_UPDATE added to the site's policy."""

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

ADMIN_PREFIX = "/admin/"


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(ADMIN_PREFIX):
            parts.update = {**settings.WAGTAIL_ADMIN_CSP_UPDATE, **(parts.update or {})}
        return parts
