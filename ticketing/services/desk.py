"""Reads for the staff admin: occupancy of slots, the day board, sales figures. No writes.

These are selectors used only by the admin (front desk and managers). They count seats
with the same rule as the shop (``selectors.taken_filter``) so that "free" at the desk is
exactly what ``order_place`` would still sell; every function runs a fixed number of
queries whatever the number of slots.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone

from museum.models import Site
from ticketing import selectors
from ticketing.models import Order, ResellerAllocation, Ticket, TimeSlot


class Occupancy(TypedDict):
    sold: int
    held: int
    checked_in: int
    kept: int


if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    SlotWithOccupancy = WithAnnotations[TimeSlot, Occupancy]


def _seats_where(condition: Q) -> Coalesce:
    """Seats of the slot's tickets matching ``condition``, as a correlated subquery."""
    seats = (
        Ticket.objects.filter(condition, time_slot=OuterRef("pk"))
        .order_by()
        .values("time_slot")
        .annotate(n=Sum("seats"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(seats, output_field=IntegerField()), 0)


def _kept_for_resellers(now: dt.datetime) -> Coalesce:
    """Unsold seats of the slot's reseller allocations, as ``seats_kept_for_resellers`` says.

    Per allocation: its seats minus what that reseller has taken in the slot, at least 0.
    """
    taken_by_reseller = (
        Ticket.objects.filter(
            selectors.taken_filter(now),
            time_slot=OuterRef("time_slot"),
            order__reseller=OuterRef("reseller"),
        )
        .order_by()
        .values("time_slot")
        .annotate(n=Sum("seats"))
        .values("n")[:1]
    )
    kept = (
        ResellerAllocation.objects.filter(time_slot=OuterRef("pk"))
        .annotate(
            unsold=Greatest(
                F("seats") - Coalesce(Subquery(taken_by_reseller, output_field=IntegerField()), 0),
                0,
            )
        )
        .order_by()
        .values("time_slot")
        .annotate(total=Sum("unsold"))
        .values("total")[:1]
    )
    return Coalesce(Subquery(kept, output_field=IntegerField()), 0)


def time_slots_with_occupancy(
    queryset: QuerySet[TimeSlot], *, now: dt.datetime | None = None
) -> QuerySet[SlotWithOccupancy]:
    """Annotate slots with seats ``sold`` (issued), ``held`` (unexpired holds), ``checked_in``
    and ``kept`` (reseller allocations not yet sold).

    ``sold + held`` is what the shop counts as taken (``selectors.taken_filter``), and
    ``capacity - sold - held - kept`` is what it would still sell in the slot.
    No side effects; adds subqueries to the one query of ``queryset``.
    """
    now = now or timezone.now()
    return queryset.annotate(
        sold=_seats_where(Q(status=Ticket.Status.VALID)),
        held=_seats_where(selectors.taken_filter(now) & Q(status=Ticket.Status.RESERVED)),
        checked_in=_seats_where(Q(status=Ticket.Status.VALID, checked_in_at__isnull=False)),
        kept=_kept_for_resellers(now),
    )


@dataclass
class SlotOccupancy:
    slot: SlotWithOccupancy
    sold: int
    held: int
    checked_in: int
    kept_for_resellers: int
    free: int

    @property
    def taken(self) -> int:
        return self.sold + self.held


@dataclass
class SiteDay:
    site: Site
    rows: list[SlotOccupancy] = field(default_factory=list)
    daily_cap_left: int | None = None

    @property
    def capacity(self) -> int:
        return sum(r.slot.capacity for r in self.rows if not r.slot.is_cancelled)

    @property
    def sold(self) -> int:
        return sum(r.sold for r in self.rows)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.rows)

    @property
    def checked_in(self) -> int:
        return sum(r.checked_in for r in self.rows)

    @property
    def free(self) -> int:
        return sum(r.free for r in self.rows)


def slot_occupancy_list(
    queryset: QuerySet[TimeSlot], *, now: dt.datetime | None = None
) -> list[SlotOccupancy]:
    """The slots of ``queryset`` with their seats sold, held, checked in and still for sale.

    "Free" deducts reseller allocations not yet sold (as the shop does) but not the
    site's daily cap, which ``day_board`` applies per site. Past and cancelled slots
    have nothing free. One query. No side effects.
    """
    now = now or timezone.now()
    slots = time_slots_with_occupancy(queryset.select_related("site", "exhibition"), now=now)
    rows = []
    for slot in slots:
        kept_here = slot.kept
        free = slot.capacity - slot.sold - slot.held - kept_here
        if slot.is_cancelled or slot.ends_at <= now:
            free = 0
        rows.append(
            SlotOccupancy(
                slot=slot,
                sold=slot.sold,
                held=slot.held,
                checked_in=slot.checked_in,
                kept_for_resellers=kept_here,
                free=max(0, free),
            )
        )
    return rows


def day_board(*, day: dt.date, now: dt.datetime | None = None) -> list[SiteDay]:
    """The slots of one day grouped by site, with totals and the daily cap left.

    One query whatever the number of slots. No side effects.
    """
    now = now or timezone.now()
    start, end = selectors.site_day_bounds(day)
    rows = slot_occupancy_list(
        TimeSlot.objects.filter(starts_at__gte=start, starts_at__lt=end).order_by(
            "site__position", "site__slug", "starts_at", "exhibition__position"
        ),
        now=now,
    )
    boards: dict[int, SiteDay] = {}
    for row in rows:
        board = boards.setdefault(row.slot.site_id, SiteDay(site=row.slot.site))
        board.rows.append(row)
    for board in boards.values():
        if board.site.daily_capacity is not None:
            left = max(0, board.site.daily_capacity - sum(r.taken for r in board.rows))
            board.daily_cap_left = left
            for row in board.rows:
                row.free = min(row.free, left)
    return list(boards.values())


@dataclass
class DaySales:
    day: dt.date
    tickets: int = 0
    revenue_cents: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)

    @property
    def channels(self) -> list[tuple[str, int]]:
        """(channel label, tickets) for the channels that sold on this day."""
        labels = dict(Order.Channel.choices)
        return [(str(labels.get(c, c)), n) for c, n in sorted(self.by_channel.items()) if n]


def sales_per_day(*, first: dt.date, last: dt.date) -> list[DaySales]:
    """Tickets still valid and their revenue per day of payment, ``first`` to ``last``.

    Counted by the local day the order was paid, through every channel; cancelled
    tickets are left out (net sales). Every day of the range is present. One query.
    No side effects.
    """
    start, _ = selectors.site_day_bounds(first)
    _, end = selectors.site_day_bounds(last)
    rows = (
        Ticket.objects.filter(
            status=Ticket.Status.VALID, order__paid_at__gte=start, order__paid_at__lt=end
        )
        .annotate(day=TruncDate("order__paid_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "order__channel")
        .annotate(tickets=Count("pk"), revenue=Sum("price_cents"))
        .order_by("day")
    )
    per_day: dict[dt.date, DaySales] = {}
    day = first
    while day <= last:
        per_day[day] = DaySales(day=day)
        day += dt.timedelta(days=1)
    for row in rows:
        sales = per_day[row["day"]]
        sales.tickets += row["tickets"]
        sales.revenue_cents += row["revenue"] or 0
        channel = row["order__channel"]
        sales.by_channel[channel] = sales.by_channel.get(channel, 0) + row["tickets"]
    return list(per_day.values())
