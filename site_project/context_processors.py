from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """The site's name, and how long templates keep their cached fragments of public pages."""
    return {"SITE_NAME": settings.SITE_NAME, "PUBLIC_CACHE_TTL": settings.PUBLIC_CACHE_TTL}
