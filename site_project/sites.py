"""Django's Sites framework, which allauth's mails read the site's name and domain from, kept
equal to SITE_NAME and SITE_URL."""

from urllib.parse import urlsplit

from django.conf import settings


def sync_site(*, using: str = "default"):
    """Create or update the Site of SITE_ID from the settings; return it."""
    from django.contrib.sites.models import Site

    domain = urlsplit(settings.SITE_URL).netloc or settings.SITE_URL
    site, _created = Site.objects.using(using).update_or_create(
        pk=settings.SITE_ID, defaults={"domain": domain[:100], "name": settings.SITE_NAME[:50]}
    )
    Site.objects.clear_cache()
    return site
