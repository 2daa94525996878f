"""Reads on user accounts for the manager's user list."""

from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from mailing.models import Mailing

from .models import User

PAGE_SIZE = 25


def user_page(*, search: str = "", blocked: str = "", number=1) -> Page:
    """Every account with its number of mailings, in one query per page."""
    mailing_counts = (
        Mailing.objects.filter(owner=OuterRef("pk"))
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    users = (
        User.objects.order_by("email")
        .annotate(mailing_count=Coalesce(Subquery(mailing_counts), 0))
        .select_related("blocked_by")
    )
    if search:
        users = users.filter(
            Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    if blocked in ("yes", "no"):
        users = users.filter(is_blocked=blocked == "yes")
    return Paginator(users, PAGE_SIZE).get_page(number)
