"""Reads of the reseller API: slots on sale with what this reseller may still sell, orders."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from museum.models import Closure
from ticketing import selectors
from ticketing.models import Exhibition, Order, Reseller, Ticket, TicketType, TimeSlot


@dataclass(frozen=True)
class ResellerSlot:
    slot: TimeSlot
    available: int
    ticket_types: list[TicketType]


def _site_seats_taken_per_day(
    *, site_ids: list[int], first: dt.date, last: dt.date, now: dt.datetime
) -> dict[tuple[int, dt.date], int]:
    """Seats taken per (site, local day) over a range of days, in one query."""
    start, _ = selectors.site_day_bounds(first)
    _, end = selectors.site_day_bounds(last)
    rows = (
        Ticket.objects.filter(
            selectors.taken_filter(now),
            time_slot__site_id__in=site_ids,
            time_slot__starts_at__gte=start,
            time_slot__starts_at__lt=end,
        )
        .annotate(day=TruncDate("time_slot__starts_at", tzinfo=timezone.get_current_timezone()))
        .values("time_slot__site_id", "day")
        .annotate(n=Sum("seats"))
    )
    return {(row["time_slot__site_id"], row["day"]): row["n"] for row in rows}


def slots_for_reseller(
    *,
    reseller: Reseller,
    first: dt.date,
    last: dt.date,
    exhibition: Exhibition | None = None,
    now: dt.datetime | None = None,
) -> list[ResellerSlot]:
    """The slots a reseller can sell from ``first`` to ``last`` (local days, inclusive).

    Only slots that are not cancelled, not over, of an active site and exhibition that
    runs that day, on a day the site is open. ``available`` is what ``order_place``
    would accept for this reseller: capacity minus seats taken, minus seats kept for
    other resellers, bounded by what is left of the site's daily capacity.
    Runs a fixed number of queries whatever the number of slots.
    """
    now = now or timezone.now()
    start, _ = selectors.site_day_bounds(first)
    _, end = selectors.site_day_bounds(last)
    queryset = TimeSlot.objects.select_related("site", "exhibition").filter(
        is_cancelled=False,
        ends_at__gt=now,
        starts_at__gte=start,
        starts_at__lt=end,
        site__is_active=True,
        exhibition__is_active=True,
    )
    if exhibition is not None:
        queryset = queryset.filter(exhibition=exhibition)
    slots = []
    for slot in queryset.order_by("starts_at", "pk"):
        if slot.exhibition.runs_on(timezone.localtime(slot.starts_at).date()):
            slots.append(slot)
    if not slots:
        return []

    site_ids = sorted({slot.site_id for slot in slots})
    closed: set[tuple[int, dt.date]] = set()
    for closure in Closure.objects.filter(site_id__in=site_ids).overlapping(first, last):
        day = max(closure.starts_on, first)
        while day <= min(closure.ends_on, last):
            closed.add((closure.site_id, day))
            day += dt.timedelta(days=1)
    slots = [s for s in slots if (s.site_id, timezone.localtime(s.starts_at).date()) not in closed]
    if not slots:
        return []

    slot_ids = [slot.pk for slot in slots]
    taken = selectors.seats_taken(slot_ids=slot_ids, now=now)
    kept = selectors.seats_kept_for_resellers(slot_ids=slot_ids, now=now, except_reseller=reseller)
    capped_site_ids = sorted({s.site_id for s in slots if s.site.daily_capacity is not None})
    taken_per_day = (
        _site_seats_taken_per_day(site_ids=capped_site_ids, first=first, last=last, now=now)
        if capped_site_ids
        else {}
    )
    types_per_site: dict[int, list[TicketType]] = defaultdict(list)
    for ticket_type in TicketType.objects.filter(site_id__in=site_ids, is_active=True).order_by(
        "position", "pk"
    ):
        types_per_site[ticket_type.site_id].append(ticket_type)

    result = []
    for slot in slots:
        free = max(0, slot.capacity - taken.get(slot.pk, 0) - kept.get(slot.pk, 0))
        if slot.site.daily_capacity is not None:
            day = timezone.localtime(slot.starts_at).date()
            left = slot.site.daily_capacity - taken_per_day.get((slot.site_id, day), 0)
            free = min(free, max(0, left))
        types = [
            t
            for t in types_per_site[slot.site_id]
            if t.exhibition_id is None or t.exhibition_id == slot.exhibition_id
        ]
        result.append(ResellerSlot(slot=slot, available=free, ticket_types=types))
    return result


# An order's tickets as the API shows them (ticketing.api.serializers.OrderSerializer).
ORDER_TICKETS = Prefetch(
    "tickets", queryset=Ticket.objects.select_related("ticket_type", "time_slot").order_by("pk")
)


def _with_tickets(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.prefetch_related(ORDER_TICKETS)


def orders_for_reseller(reseller: Reseller) -> QuerySet[Order]:
    """A reseller's own orders with their tickets, newest first."""
    return _with_tickets(Order.objects.filter(reseller=reseller)).order_by("-created_at", "-pk")


def order_get_for_reseller(*, reseller: Reseller, code: str) -> Order | None:
    """The reseller's own order with this code, or None (also for another's order)."""
    return _with_tickets(Order.objects.filter(reseller=reseller, code=code)).first()
