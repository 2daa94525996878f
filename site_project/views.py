from django.urls import reverse
from django.views.generic import RedirectView


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
