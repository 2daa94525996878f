"""Reads and statistics for the dashboard and the public home page — the one stats module.

Counts of rows people create (mailings, recipients) are aggregate queries cached in the
viewer's namespace (see `mailing.cache`), dropped on every write. Attempt figures come from
`DailyStat`, a per-mailing, per-day rollup written in the same commit as the attempts, so
they are exact at every moment and cost rows-per-day, not rows-per-attempt.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Lower
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core.roles import get_object_for, is_manager, objects_for
from users.models import User

from . import cache
from .delivery import sendable_runs
from .models import (
    Attempt,
    DailyStat,
    Delivery,
    Heartbeat,
    Mailing,
    Message,
    Recipient,
    RecipientList,
    Run,
    Suppression,
)

PAGE_SIZE = 25
# What pages show of an owner. Rows are cached (Redis in production), so their owner is
# loaded with these fields only: never a password hash, a phone number or anything else.
OWNER_FIELDS = ("id", "email")


def viewer_scope(*, user: User) -> str | int:
    """The cache namespace of what `user` sees: their own, or the site's for a manager."""
    return cache.SITE if is_manager(user) else user.pk


def _with_owner(queryset: QuerySet, *, path: str = "owner") -> QuerySet:
    """`queryset` with the owner at `path` joined in, holding only `OWNER_FIELDS`."""
    hidden = [
        f"{path}__{field.name}"
        for field in User._meta.concrete_fields
        if field.name not in OWNER_FIELDS
    ]
    return queryset.select_related(path).defer(*hidden)


def recipient_email_taken(*, owner: User, email: str, exclude_pk: int | None = None) -> bool:
    """Whether `owner` has a recipient with `email` already, compared exactly as the database's
    unique constraint compares (lower() of both, in the database)."""
    clash = Recipient.objects.filter(owner=owner).alias(email_key=Lower("email"))
    clash = clash.filter(email_key=Lower(Value(email)))
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    return clash.exists()


# --- Totals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    mailings: int
    active_mailings: int
    unique_recipients: int


@dataclass(frozen=True)
class AttemptTotals:
    successes: int
    failures: int

    @property
    def total(self) -> int:
        return self.successes + self.failures

    @property
    def success_rate(self) -> float | None:
        return round(100 * self.successes / self.total, 1) if self.total else None


def _totals(mailings: QuerySet, recipients: QuerySet, *, one_owner: bool) -> Totals:
    counts = mailings.aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status=Mailing.Status.LAUNCHED, is_disabled=False)),
    )
    if one_owner:
        # An owner's addresses are unique whatever their case (a database constraint), so
        # counting rows counts addresses, without sorting them (4x faster at 10k rows).
        unique = recipients.count()
    else:
        unique = recipients.aggregate(n=Count(Lower("email"), distinct=True))["n"]
    return Totals(counts["total"], counts["active"], unique)


def site_totals() -> Totals:
    """Site-wide: all mailings, the launched ones, distinct recipient addresses."""
    return cache.cached(
        scope=cache.SITE,
        name="site-totals",
        params=None,
        compute=lambda: _totals(Mailing.objects.all(), Recipient.objects.all(), one_owner=False),
    )


def totals_for(*, user: User) -> Totals:
    """The same figures over what `user` may see (a manager: everything)."""
    return cache.cached(
        scope=viewer_scope(user=user),
        name="totals",
        params=None,
        compute=lambda: _totals(
            objects_for(user, Mailing),
            objects_for(user, Recipient),
            one_owner=not is_manager(user),
        ),
    )


def attempt_totals(*, stats: QuerySet) -> AttemptTotals:
    """Successful and failed attempts summed over `stats` (DailyStat rows)."""
    sums = stats.aggregate(
        successes=Coalesce(Sum("successes"), 0), failures=Coalesce(Sum("failures"), 0)
    )
    return AttemptTotals(sums["successes"], sums["failures"])


def attempt_totals_for(*, user: User) -> AttemptTotals:
    """Attempt totals over the mailings `user` may see."""
    return attempt_totals(stats=objects_for(user, DailyStat))


def attempts_per_day(*, stats: QuerySet, days: int = 30, today: date | None = None) -> list[dict]:
    """One entry per day of the last `days` days (zeros included), oldest first."""
    today = today or timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = (
        stats.filter(day__gte=start, day__lte=today)
        .values("day")
        .annotate(successes=Sum("successes"), failures=Sum("failures"))
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {
            "day": (start + timedelta(days=offset)).isoformat(),
            "successes": by_day.get(start + timedelta(days=offset), {}).get("successes", 0),
            "failures": by_day.get(start + timedelta(days=offset), {}).get("failures", 0),
        }
        for offset in range(days)
    ]


# --- Lists -----------------------------------------------------------------------------------


def _cached_page(
    *, user: User, name: str, queryset: QuerySet, params: object, number: int | str
) -> Page:
    """A page of `queryset` whose count and rows are cached in the viewer's namespace.

    The count is cached on its own and the page number resolved against it first, so the rows
    are keyed by the page they are: "a", "01", "1" and "999" past the end are not new keys.
    """
    scope = viewer_scope(user=user)
    paginator = Paginator(queryset, PAGE_SIZE)
    # A cached_property: setting it means no COUNT query runs.
    paginator.count = cache.cached(
        scope=scope, name=f"{name}-count", params=params, compute=queryset.count
    )
    page = paginator.get_page(number)  # Django's rules: not a number → 1, past the end → last
    page.object_list = cache.cached(
        scope=scope,
        name=name,
        params=(params, page.number),
        compute=lambda: list(page.object_list),
    )
    return page


def recipient_page(*, user: User, search: str = "", number: int | str = 1) -> Page:
    """One page of the recipients `user` may see, optionally searched; each with why and
    since when its address is suppressed (`suppression_reason`, `suppressed_at`: None when
    it is not)."""
    recipients = _with_owner(objects_for(user, Recipient)).annotate(**_suppression_of_recipient())
    if search:
        recipients = recipients.filter(
            Q(email__icontains=search)
            | Q(full_name__icontains=search)
            | Q(comment__icontains=search)
        )
    return _cached_page(
        user=user, name="recipients", queryset=recipients, params=search, number=number
    )


def _suppression_of_recipient() -> dict[str, Subquery]:
    # lower(email) = lower(…): the (owner, lower(email)) unique index answers each row.
    suppression = Suppression.objects.annotate(address=Lower("email")).filter(
        owner_id=OuterRef("owner_id"), address=Lower(OuterRef("email"))
    )
    return {
        "suppression_reason": Subquery(suppression.values("reason")[:1]),
        "suppressed_at": Subquery(suppression.values("created_at")[:1]),
    }


def suppression_page(*, user: User, number: int | str = 1) -> Page:
    """One page of the suppressed addresses `user` may see, the latest first."""
    suppressions = _with_owner(objects_for(user, Suppression))
    return _cached_page(
        user=user, name="suppressions", queryset=suppressions, params="", number=number
    )


def message_page(*, user: User, search: str = "", number: int | str = 1) -> Page:
    """One page of the messages `user` may see, optionally searched."""
    messages = _with_owner(objects_for(user, Message))
    if search:
        messages = messages.filter(Q(subject__icontains=search) | Q(body__icontains=search))
    return _cached_page(user=user, name="messages", queryset=messages, params=search, number=number)


def mailings_with_counts(*, queryset: QuerySet) -> QuerySet:
    """Mailings with their message and owner, their number of recipients and whether a run
    of theirs is open (`has_open_run`)."""
    # A correlated count per listed row reads only that mailing's slice of the link table's
    # index; a JOIN + COUNT(DISTINCT) would group every link row of every mailing first
    # (18 ms → 5 ms for 20 mailings of 500 recipients).
    recipient_count = (
        Mailing.recipients.through.objects.filter(mailing=OuterRef("pk"))
        .order_by()
        .values("mailing")
        .annotate(n=Count("*"))
        .values("n")  # type: ignore[misc]  # django-stubs does not see the through model's annotation
    )
    list_count = (
        Mailing.lists.through.objects.filter(mailing=OuterRef("pk"))
        .order_by()
        .values("mailing")
        .annotate(n=Count("*"))
        .values("n")
    )
    return _with_owner(queryset.select_related("message")).annotate(
        recipient_count=Coalesce(Subquery(recipient_count), 0),
        list_count=Coalesce(Subquery(list_count), 0),
        has_open_run=Exists(Run.objects.filter(mailing=OuterRef("pk"), finished_at__isnull=True)),
    )


def mailing_page(
    *, user: User, status: str = "", owner_id: int | None = None, number: int | str = 1
) -> Page:
    """One page of the mailings `user` may see, by status and (for a manager) by owner."""
    # Pages need a stable order of their own, whatever the model's default becomes.
    mailings = mailings_with_counts(queryset=objects_for(user, Mailing)).order_by(
        "-created_at", "-pk"
    )
    if status in Mailing.Status.values:
        mailings = mailings.filter(status=status)
    if owner_id is not None:  # a manager looking at one user's mailings
        mailings = mailings.filter(owner_id=owner_id)
    return _cached_page(
        user=user, name="mailings", queryset=mailings, params=(status, owner_id), number=number
    )


def mailing_detail(*, user: User, pk: int) -> Mailing:
    """The mailing with its counts if `user` may see it; 404 otherwise."""
    return get_object_for(user, mailings_with_counts(queryset=objects_for(user, Mailing)), pk=pk)


# --- Attempts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptFilter:
    mailing: Mailing | None = None
    status: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def attempt_page(*, user: User, filters: AttemptFilter, number: int | str = 1) -> Page:
    """Newest attempts first. The page count comes from the daily rollup, which has exactly
    the dimensions the filters offer, so no COUNT(*) runs over the attempts table.

    A page past the middle is read from the other end (oldest first, then reversed), so the
    OFFSET the database walks is at most half the rows: the report's "Last" link over a
    million attempts reads 25 rows instead of skipping 999,975 first.
    """
    attempts = _with_owner(
        objects_for(user, Attempt).select_related("mailing__message"), path="mailing__owner"
    )
    stats = objects_for(user, DailyStat)
    if filters.mailing is not None:
        attempts = attempts.filter(mailing=filters.mailing)
        stats = stats.filter(mailing=filters.mailing)
    if filters.date_from:
        attempts = attempts.filter(attempted_at__gte=_day_start(filters.date_from))
        stats = stats.filter(day__gte=filters.date_from)
    if filters.date_to:
        attempts = attempts.filter(attempted_at__lt=_day_start(filters.date_to + timedelta(days=1)))
        stats = stats.filter(day__lte=filters.date_to)
    totals = attempt_totals(stats=stats)
    if filters.status == Attempt.Status.SUCCESS:
        attempts, count = attempts.filter(status=filters.status), totals.successes
    elif filters.status == Attempt.Status.FAILURE:
        attempts, count = attempts.filter(status=filters.status), totals.failures
    else:
        count = totals.total
    paginator = Paginator(attempts.order_by("-attempted_at", "-pk"), PAGE_SIZE)
    paginator.count = count
    page = paginator.get_page(number)
    if page.number > 1 and page.number > paginator.num_pages / 2:
        # The rows of this page, counted from the oldest end: the same rows, newest first.
        start, stop = page.start_index() - 1, page.end_index()
        oldest_first = attempts.order_by("attempted_at", "pk")[count - stop : count - start]
        page.object_list = list(oldest_first)[::-1]
    return page


# --- Delivery progress -------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    run_id: int | None
    total: int
    sent: int
    failed: int
    cancelled: int
    pending: int
    running: bool
    finished_at: datetime | None = None
    # Never sent: the address is suppressed (unsubscribed or bounced).
    skipped: int = 0

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.cancelled + self.skipped

    @property
    def percent(self) -> int:
        if not self.total:
            return 0 if self.run_id is None else 100
        return int(100 * self.done / self.total)

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "total": self.total,
            "sent": self.sent,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "pending": self.pending,
            "skipped": self.skipped,
            "percent": self.percent,
            "running": self.running,
            # The run's row in the page's runs table, kept in step by progress.js: its
            # "Failed" counts the cancelled too (`recent_runs`).
            "run": None
            if self.run_id is None
            else {
                "id": self.run_id,
                "sent": self.sent,
                "failed": self.failed + self.cancelled,
                "skipped": self.skipped,
                "total": self.total,
                "finished": None
                if self.finished_at is None
                else f"{timezone.localtime(self.finished_at):%Y-%m-%d %H:%M}",
            },
        }


def latest_run_progress(*, mailing: Mailing) -> Progress:
    """Where the mailing's latest run stands (retries waiting for their turn count as pending)."""
    run = Run.objects.filter(mailing=mailing).order_by("-created_at", "-pk").first()
    if run is None:
        return Progress(None, 0, 0, 0, 0, 0, False)
    by_state = dict(
        Delivery.objects.filter(run=run)
        .values_list("state")
        .annotate(n=Count("pk"))
        .values_list("state", "n")
    )
    pending = by_state.get(Delivery.State.PENDING, 0) + by_state.get(Delivery.State.CLAIMED, 0)
    return Progress(
        run_id=run.pk,
        total=sum(by_state.values()),
        sent=by_state.get(Delivery.State.SENT, 0),
        failed=by_state.get(Delivery.State.FAILED, 0),
        cancelled=by_state.get(Delivery.State.CANCELLED, 0),
        pending=pending,
        running=run.finished_at is None,
        finished_at=run.finished_at,
        skipped=by_state.get(Delivery.State.SKIPPED, 0),
    )


def recent_runs(*, mailing: Mailing, limit: int = 10) -> list[Run]:
    """The mailing's latest runs with their sent, failed and total deliveries."""
    return list(
        Run.objects.filter(mailing=mailing)
        .annotate(
            sent=Count("deliveries", filter=Q(deliveries__state=Delivery.State.SENT)),
            failed=Count(
                "deliveries",
                filter=Q(deliveries__state__in=[Delivery.State.FAILED, Delivery.State.CANCELLED]),
            ),
            skipped=Count("deliveries", filter=Q(deliveries__state=Delivery.State.SKIPPED)),
            total=Count("deliveries"),
        )
        .order_by("-created_at", "-pk")[:limit]
    )


def recipient_attempt_page(*, user: User, recipient: Recipient, number: int | str = 1) -> Page:
    """The attempts to mail `recipient`, newest first, across every mailing `user` may see,
    each with its mailing (one query for the page, one for the count, whatever the rows)."""
    attempts = (
        objects_for(user, Attempt)
        .filter(recipient=recipient)
        .select_related("mailing")
        .only(
            "pk",
            "attempted_at",
            "status",
            "email",
            "server_response",
            "mailing__id",
            "mailing__name",
            "mailing__message_id",
        )
        .order_by("-attempted_at", "-pk")
    )
    return Paginator(attempts, PAGE_SIZE).get_page(number)


def public_list(*, key: str) -> RecipientList:
    """The public list with this sign-up key; 404 for any other key (a list that is not
    public answers like one that does not exist)."""
    return get_object_or_404(RecipientList, public_key=key, is_public=True)


@dataclass(frozen=True)
class CapWait:
    """Deliveries of a mailing's open run held back by the daily cap, and when they go."""

    waiting: int
    until: datetime


def daily_cap_wait(*, mailing: Mailing) -> CapWait | None:
    """What the daily sending cap holds back of `mailing`'s open run, if the cap is spent."""
    from .delivery.caps import cap_reached_until

    until = cap_reached_until()
    if until is None:
        return None
    waiting = Delivery.objects.filter(
        run__mailing=mailing,
        run__finished_at__isnull=True,
        state=Delivery.State.PENDING,
        next_try_at__gte=until,
    ).count()
    return CapWait(waiting, until) if waiting else None


def queued_count(*, mailing: Mailing) -> int:
    """Messages of `mailing` waiting in an open run (pending, retrying or being sent): what a
    stop or a disable cancels, and a pause holds."""
    return Delivery.objects.filter(
        run__mailing=mailing,
        run__finished_at__isnull=True,
        state__in=[Delivery.State.PENDING, Delivery.State.CLAIMED],
    ).count()


# --- Scheduler health --------------------------------------------------------------------------


@dataclass(frozen=True)
class SchedulerHealth:
    """What the managers' health page shows; `running` is False when the scheduler's last
    tick is older than a few of its intervals (or it never ticked)."""

    now: datetime
    last_tick: datetime | None
    running: bool
    queued: int  # pending, never tried yet
    retrying: int  # pending again after a failed try
    claimed: int  # in a sender's hands right now
    held: int  # pending in a paused, disabled or blocked owner's run
    oldest_due: datetime | None  # the longest-waiting delivery that may go out now
    senders_alive: int  # claim batches with a lease renewed recently (idle senders hold none)

    @property
    def oldest_age(self) -> timedelta | None:
        return None if self.oldest_due is None else max(self.now - self.oldest_due, timedelta())


def scheduler_health(*, now: datetime | None = None) -> SchedulerHealth:
    """The scheduler's last tick and the queue's state, in two queries however many rows."""
    now = now or timezone.now()
    tick = Heartbeat.objects.filter(name=Heartbeat.SCHEDULER).values_list("beat_at", flat=True)
    last_tick = tick.first()
    stale_after = timedelta(seconds=3 * settings.MAILING_TICK_SECONDS + 30)
    pending = Q(state=Delivery.State.PENDING, run__finished_at__isnull=True)
    live = Q(run__in=sendable_runs())
    figures = Delivery.objects.aggregate(
        queued=Count("pk", filter=pending & live & Q(tries=0)),
        retrying=Count("pk", filter=pending & live & Q(tries__gt=0)),
        held=Count("pk", filter=pending & ~live),
        claimed=Count("pk", filter=Q(state=Delivery.State.CLAIMED)),
        oldest_due=Min("next_try_at", filter=pending & live & Q(next_try_at__lte=now)),
        senders=Count(
            "claim_token",
            distinct=True,
            filter=Q(state=Delivery.State.CLAIMED, lease_expires_at__gt=now),
        ),
    )
    return SchedulerHealth(
        now=now,
        last_tick=last_tick,
        running=last_tick is not None and now - last_tick <= stale_after,
        queued=figures["queued"],
        retrying=figures["retrying"],
        claimed=figures["claimed"],
        held=figures["held"],
        oldest_due=figures["oldest_due"],
        senders_alive=figures["senders"],
    )


# --- What an action will do, said before it is done ----------------------------------------------


def audience_size(
    *,
    owner_id: int,
    mailing_id: int | None = None,
    recipient_ids: Collection[int] | None = None,
    list_ids: Collection[int] = (),
) -> int:
    """How many addresses one send reaches: a stored mailing's (`mailing_id`), or a mailing
    being written of the owner's `recipient_ids` and `list_ids` (recipient_ids None: every
    recipient they have). What the form, Send now and Stop show; it is `mailing.audience`'s
    count (lists' confirmed members, suppressed addresses left out), so they all say the same
    as the engine does."""
    from . import audience

    if mailing_id is not None:
        mailing = Mailing.objects.get(pk=mailing_id)
        ids = audience.mailing_audience(mailing=mailing)
        suppressed = Suppression.objects.filter(owner_id=owner_id).alias(key=Lower("email"))
        return ids.exclude(Exists(suppressed.filter(key=OuterRef("email")))).count()
    return audience.audience_count(
        owner_id=owner_id,
        recipient_ids=recipient_ids or (),
        list_ids=list_ids,
        all_recipients=recipient_ids is None,
    )


def save_outcome(
    *,
    count: int,
    start: bool,
    first_send_at: datetime | None,
    periodicity: str,
    end_at: datetime | None,
    now: datetime | None = None,
) -> str:
    """What saving a new mailing does, in a sentence: a draft sends nothing; one that starts
    sends to `count` recipients now (its first send has passed) or from its first send."""
    now = now or timezone.now()
    if not start:
        return gettext(
            "Save keeps it as a draft: nothing is sent until you schedule it or press Send now."
        )
    if first_send_at is None:
        return gettext("Save starts it at the first send time you choose.")
    names = {
        "count": count,
        "when": f"{timezone.localtime(first_send_at):%Y-%m-%d %H:%M}",
        "end": "" if end_at is None else f"{timezone.localtime(end_at):%Y-%m-%d %H:%M}",
    }
    if first_send_at <= now:
        text = ngettext(
            "Save sends it to %(count)d recipient now.",
            "Save sends it to %(count)d recipients now.",
            count,
        )
    else:
        text = ngettext(
            "Save starts it on %(when)s: it is sent to %(count)d recipient then.",
            "Save starts it on %(when)s: it is sent to %(count)d recipients then.",
            count,
        )
    text %= names
    if periodicity != Mailing.Periodicity.ONCE and end_at is not None:
        repeats: str | None = {
            Mailing.Periodicity.DAILY: gettext("It repeats every day until %(end)s."),
            Mailing.Periodicity.WEEKLY: gettext("It repeats every week until %(end)s."),
            Mailing.Periodicity.MONTHLY: gettext("It repeats every month until %(end)s."),
        }.get(periodicity)  # type: ignore[call-overload]  # a str from the form
        if repeats:
            text += " " + repeats % names
    return text


def mailings_using(*, message: Message, limit: int = 50) -> list[Mailing]:
    """The mailings that send `message` (what keeps it from being deleted), newest first."""
    return list(message.mailings.order_by("-created_at", "-pk")[:limit])
