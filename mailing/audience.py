"""Who a mailing reaches: the one definition, read when a run starts and by the mailing form.

A mailing's audience is its direct recipients together with the *confirmed* members of its
lists, each recipient once, as they are at the moment the question is asked: someone who joined
a list after the mailing was saved is in its next run, someone removed is not. Pending members
(a public sign-up not confirmed yet) are never included. Addresses the owner may not mail
(suppressions) are the delivery engine's to leave out (`mailing.delivery.runs._enqueue`).

Both functions return a queryset of recipient ids under the column `recipient_id`, one
statement whatever the number of recipients: `_enqueue` inserts its rows with INSERT … SELECT,
the form counts it.
"""

from collections.abc import Iterable

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Lower

from core.roles import objects_for
from users.models import User

from .models import Mailing, Membership, Recipient, RecipientList, Suppression

PAGE_SIZE = 25


def _audience(*, owner_id: int, direct: Q, members: Q) -> QuerySet:
    confirmed = Membership.objects.filter(
        members, recipient=OuterRef("pk"), status=Membership.Status.CONFIRMED
    )
    # Semi-joins on the owner's recipients: each one once, no DISTINCT over a join.
    return (
        Recipient.objects.filter(owner_id=owner_id)
        .filter(direct | Q(Exists(confirmed)))
        .values(recipient_id=F("pk"))
        .order_by()
    )


def mailing_audience(*, mailing: Mailing) -> QuerySet:
    """The recipient ids a run of `mailing` started now goes to (before suppressions)."""
    direct = Mailing.recipients.through.objects.filter(
        mailing_id=mailing.pk, recipient_id=OuterRef("pk")
    )
    return _audience(
        owner_id=mailing.owner_id,
        direct=Q(Exists(direct)),
        members=Q(
            list__in=Mailing.lists.through.objects.filter(mailing_id=mailing.pk).values(
                "recipientlist_id"
            )
        ),
    )


def chosen_audience(
    *, owner_id: int, recipient_ids: Iterable[int] = (), list_ids: Iterable[int] = ()
) -> QuerySet:
    """The same for a choice not saved yet (the mailing form's "sends to N recipients")."""
    return _audience(
        owner_id=owner_id,
        direct=Q(pk__in=list(recipient_ids)),
        members=Q(list_id__in=list(list_ids)),
    )


def audience_count(
    *,
    owner_id: int,
    recipient_ids: Iterable[int] = (),
    list_ids: Iterable[int] = (),
    all_recipients: bool = False,
) -> int:
    """How many recipients a run started now would mail for this choice, leaving out the
    owner's suppressed addresses (as the engine does)."""
    if all_recipients:
        ids = Recipient.objects.filter(owner_id=owner_id).values(recipient_id=F("pk"))
    else:
        ids = chosen_audience(owner_id=owner_id, recipient_ids=recipient_ids, list_ids=list_ids)
    suppressed = Suppression.objects.filter(owner_id=owner_id).annotate(key=Lower("email"))
    suppressed = suppressed.filter(key=Lower(OuterRef("email")))
    return ids.filter(~Q(Exists(suppressed))).count()


# --- Reads for the picker and the lists pages ---------------------------------------------------

SEARCH_LIMIT = 20


def search_recipients(*, user: User, query: str, limit: int = SEARCH_LIMIT) -> list[dict]:
    """At most `limit` of the recipients `user` may see whose address or name contains
    `query`, as the picker shows them."""
    recipients = objects_for(user, Recipient)
    if query:
        recipients = recipients.filter(Q(email__icontains=query) | Q(full_name__icontains=query))
    return [
        {"id": pk, "label": f"{name} <{email}>"}
        for pk, name, email in recipients.order_by("email", "pk").values_list(
            "pk", "full_name", "email"
        )[:limit]
    ]


def search_lists(*, user: User, query: str, limit: int = SEARCH_LIMIT) -> list[dict]:
    """At most `limit` of the lists `user` may see whose name contains `query`, with their
    number of confirmed members."""
    lists = with_member_counts(objects_for(user, RecipientList))
    if query:
        lists = lists.filter(name__icontains=query)
    return [
        {"id": item.pk, "label": item.name, "members": item.confirmed_count}
        for item in lists.order_by("name", "pk")[:limit]
    ]


def with_member_counts(lists: QuerySet) -> QuerySet:
    """Lists with `confirmed_count` and `pending_count`: one correlated count each, so a page
    of lists is one query however many members they have."""

    def count(status: str) -> Coalesce:
        members = (
            Membership.objects.filter(list=OuterRef("pk"), status=status)
            .order_by()
            .values("list")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return Coalesce(Subquery(members), 0)

    return lists.annotate(
        confirmed_count=count(Membership.Status.CONFIRMED),
        pending_count=count(Membership.Status.PENDING),
    )


def list_page(*, user: User, search: str = "", number: int | str = 1) -> Page:
    """One page of the lists `user` may see, with their member counts."""
    lists = with_member_counts(objects_for(user, RecipientList)).select_related("owner")
    if search:
        lists = lists.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return Paginator(lists.order_by("name", "pk"), PAGE_SIZE).get_page(number)


def member_page(*, recipient_list: RecipientList, search: str = "", number: int | str = 1) -> Page:
    """One page of a list's memberships, each with its recipient."""
    members = Membership.objects.filter(list=recipient_list).select_related("recipient")
    if search:
        members = members.filter(
            Q(recipient__email__icontains=search) | Q(recipient__full_name__icontains=search)
        )
    return Paginator(members.order_by("recipient__email", "pk"), PAGE_SIZE).get_page(number)
