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


def mailings_in_progress(*, user: User) -> int:
    """How many of `user`'s mailings are launched or have something queued: what a block
    holds and an unblock gives back (the confirmation pages say so)."""
    open_runs = Mailing.objects.filter(owner=user, runs__finished_at__isnull=True)
    return (
        Mailing.objects.filter(owner=user)
        .filter(Q(status=Mailing.Status.LAUNCHED) | Q(pk__in=open_runs.values("pk")))
        .count()
    )
