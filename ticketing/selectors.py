"""Reads of the ticket shop: availability, calendars, orders. No writes here."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from museum.emails import register_context
from museum.models import Closure, OpeningHours, Site
from ticketing.models import (
    Exhibition,
    Order,
    Reseller,
    ResellerAllocation,
    Ticket,
    TicketType,
    TimeSlot,
)

# The context kind of the tickets e-mail, rendered when sent (museum.emails).
ORDER_TICKETS_EMAIL = "ticketing.order_tickets"


def taken_filter(now: dt.datetime) -> Q:
    """Tickets that occupy a seat: issued ones and those of an unexpired hold."""
    return Q(status=Ticket.Status.VALID) | Q(
        status=Ticket.Status.RESERVED,
        order__status=Order.Status.PENDING,
        order__hold_expires_at__gt=now,
    )


def seats_taken(*, slot_ids: Iterable[int], now: dt.datetime) -> dict[int, int]:
    """Seats taken per slot (one query); slots with none are absent."""
    rows = (
        Ticket.objects.filter(taken_filter(now), time_slot_id__in=list(slot_ids))
        .values("time_slot_id")
        .annotate(n=Sum("seats"))
    )
    return {row["time_slot_id"]: row["n"] for row in rows}


def seats_taken_by_reseller(
    *, slot_ids: Iterable[int], now: dt.datetime
) -> dict[tuple[int, int], int]:
    rows = (
        Ticket.objects.filter(
            taken_filter(now), time_slot_id__in=list(slot_ids), order__reseller__isnull=False
        )
        .values("time_slot_id", "order__reseller_id")
        .annotate(n=Sum("seats"))
    )
    return {(r["time_slot_id"], r["order__reseller_id"]): r["n"] for r in rows}


def seats_kept_for_resellers(
    *, slot_ids: Iterable[int], now: dt.datetime, except_reseller: Reseller | None = None
) -> dict[int, int]:
    """Per slot, the seats of reseller allocations not yet sold (kept from everyone else)."""
    slot_ids = list(slot_ids)
    allocations = list(
        ResellerAllocation.objects.filter(time_slot_id__in=slot_ids).values(
            "time_slot_id", "reseller_id", "seats"
        )
    )
    if not allocations:
        return {}
    sold = seats_taken_by_reseller(slot_ids=slot_ids, now=now)
    kept: dict[int, int] = defaultdict(int)
    for alloc in allocations:
        if except_reseller is not None and alloc["reseller_id"] == except_reseller.pk:
            continue
        unsold = alloc["seats"] - sold.get((alloc["time_slot_id"], alloc["reseller_id"]), 0)
        kept[alloc["time_slot_id"]] += max(0, unsold)
    return kept


def site_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def site_seats_taken_on(*, site: Site, day: dt.date, now: dt.datetime) -> int:
    start, end = site_day_bounds(day)
    total = Ticket.objects.filter(
        taken_filter(now),
        time_slot__site=site,
        time_slot__starts_at__gte=start,
        time_slot__starts_at__lt=end,
    ).aggregate(n=Sum("seats"))["n"]
    return total or 0


@dataclass(frozen=True)
class CapacityUsage:
    """What ``capacity_usage`` found: seats taken and kept, per slot and per site day."""

    taken: dict[int, int]  # slot id -> seats taken
    kept: dict[int, int]  # slot id -> unsold seats of other resellers' allocations
    taken_per_day: dict[dt.date, int]  # site day -> seats taken (with ``days`` only)


def _one_of(values: list) -> tuple[str, list]:
    """``= ANY(%s)`` with one array parameter on PostgreSQL; ``IN (%s, …)`` elsewhere
    (SQLite, the demo's database, has no arrays). An empty list matches nothing."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [values]
    if not values:
        return "IN (NULL)", []
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


def capacity_usage(
    *,
    slot_ids: Iterable[int],
    now: dt.datetime,
    except_reseller: Reseller | None = None,
    site_id: int | None = None,
    days: Iterable[dt.date] = (),
) -> CapacityUsage:
    """``seats_taken``, ``seats_kept_for_resellers`` and ``site_seats_taken_on`` in one query.

    The seats taken are summed per slot, reseller and start time over the ``slot_ids`` and,
    when ``site_id`` and ``days`` are given, every slot of the site on those days; the
    allocations of ``slot_ids`` come in the same statement (UNION ALL). Used under the slot
    locks when an order is placed, where each query is a round trip with the locks held.
    """
    slot_ids = list(slot_ids)
    days = sorted(set(days))
    # Written out (the same rows as taken_filter): compiling the ORM's UNION cost more CPU
    # than running it, with the slot locks held.
    site_days = ""
    slots_sql, slots_params = _one_of(slot_ids)
    params: list = [
        Ticket.Status.VALID,
        Ticket.Status.RESERVED,
        Order.Status.PENDING,
        now,
        *slots_params,
    ]
    if site_id is not None:
        for day in days:
            site_days += " OR (s.site_id = %s AND s.starts_at >= %s AND s.starts_at < %s)"
            params += [site_id, *site_day_bounds(day)]
    params += slots_params
    sql = f"""
        SELECT t.time_slot_id, o.reseller_id, s.starts_at, SUM(t.seats), false
        FROM ticketing_ticket t
        JOIN ticketing_order o ON o.id = t.order_id
        JOIN ticketing_timeslot s ON s.id = t.time_slot_id
        WHERE (t.status = %s OR (t.status = %s AND o.status = %s AND o.hold_expires_at > %s))
          AND (t.time_slot_id {slots_sql}{site_days})
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT a.time_slot_id, a.reseller_id, NULL, a.seats, true
        FROM ticketing_resellerallocation a
        WHERE a.time_slot_id {slots_sql}
    """  # noqa: S608  only fixed text is formatted in; the values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    wanted = set(slot_ids)
    taken: dict[int, int] = defaultdict(int)
    sold: dict[tuple[int, int], int] = defaultdict(int)
    allocated: dict[tuple[int, int], int] = {}
    per_day: dict[dt.date, int] = defaultdict(int)
    for slot_id, reseller_id, starts_at, seats, is_allocation in rows:
        if is_allocation:
            allocated[(slot_id, reseller_id)] = seats
            continue
        if site_id is not None and days:
            if isinstance(starts_at, str):  # SQLite (the demo) returns the stored text
                starts_at = dt.datetime.fromisoformat(starts_at)
            if timezone.is_naive(starts_at):  # ... or a naive UTC time, with no converter
                starts_at = starts_at.replace(tzinfo=dt.UTC)
            per_day[timezone.localtime(starts_at).date()] += seats
        if slot_id in wanted:
            taken[slot_id] += seats
            if reseller_id is not None:
                sold[(slot_id, reseller_id)] += seats
    kept: dict[int, int] = defaultdict(int)
    for (slot_id, reseller_id), seats in allocated.items():
        if except_reseller is not None and reseller_id == except_reseller.pk:
            continue
        kept[slot_id] += max(0, seats - sold.get((slot_id, reseller_id), 0))
    return CapacityUsage(
        taken=dict(taken),
        kept=dict(kept),
        taken_per_day={day: per_day.get(day, 0) for day in days} if site_id is not None else {},
    )


class DayStatus(StrEnum):
    AVAILABLE = "available"
    FEW_LEFT = "few"
    SOLD_OUT = "sold_out"
    CLOSED = "closed"
    PAST = "past"


@dataclass(frozen=True)
class SlotAvailability:
    slot: TimeSlot
    free: int

    @property
    def status(self) -> DayStatus:
        if self.free <= 0:
            return DayStatus.SOLD_OUT
        if self.free <= max(1, int(self.slot.capacity * settings.TICKETING["FEW_LEFT_THRESHOLD"])):
            return DayStatus.FEW_LEFT
        return DayStatus.AVAILABLE


@dataclass(frozen=True)
class CalendarDay:
    day: dt.date
    status: DayStatus
    free: int
    closure_reason: str = ""


def _bookable_slots(exhibition: Exhibition, first: dt.date, last: dt.date) -> QuerySet[TimeSlot]:
    start, _ = site_day_bounds(first)
    _, end = site_day_bounds(last)
    return TimeSlot.objects.filter(
        exhibition=exhibition, is_cancelled=False, starts_at__gte=start, starts_at__lt=end
    ).order_by("starts_at")


def exhibition_calendar(
    *, exhibition: Exhibition, year: int, month: int, now: dt.datetime | None = None
) -> list[CalendarDay]:
    """Availability per day of one month, in a fixed number of queries."""
    now = now or timezone.now()
    site = exhibition.site
    days_in_month = calendar.monthrange(year, month)[1]
    first, last = dt.date(year, month, 1), dt.date(year, month, days_in_month)
    closures = list(Closure.objects.filter(site=site).overlapping(first, last))
    slots = list(_bookable_slots(exhibition, first, last).filter(ends_at__gt=now))
    taken = seats_taken(slot_ids=[s.pk for s in slots], now=now)
    kept = seats_kept_for_resellers(slot_ids=[s.pk for s in slots], now=now)
    free_per_day: dict[dt.date, int] = defaultdict(int)
    capacity_per_day: dict[dt.date, int] = defaultdict(int)
    for slot in slots:
        day = timezone.localtime(slot.starts_at).date()
        free_per_day[day] += max(0, slot.capacity - taken.get(slot.pk, 0) - kept.get(slot.pk, 0))
        capacity_per_day[day] += slot.capacity
    site_taken: dict[dt.date, int] = {}
    if site.daily_capacity is not None:
        start, _ = site_day_bounds(first)
        _, end = site_day_bounds(last)
        rows = Ticket.objects.filter(
            taken_filter(now),
            time_slot__site=site,
            time_slot__starts_at__gte=start,
            time_slot__starts_at__lt=end,
        ).values_list("time_slot__starts_at", "seats")
        per_day: dict[dt.date, int] = defaultdict(int)
        for starts_at, seats in rows:
            per_day[timezone.localtime(starts_at).date()] += seats
        site_taken = per_day
    today = timezone.localdate(now)
    result = []
    for number in range(1, days_in_month + 1):
        day = dt.date(year, month, number)
        closure = next((c for c in closures if c.starts_on <= day <= c.ends_on), None)
        if closure is not None:
            result.append(CalendarDay(day, DayStatus.CLOSED, 0, closure.reason))
            continue
        if day < today:
            result.append(CalendarDay(day, DayStatus.PAST, 0))
            continue
        if day not in capacity_per_day:
            result.append(CalendarDay(day, DayStatus.CLOSED, 0))
            continue
        free = free_per_day[day]
        if site.daily_capacity is not None:
            free = min(free, max(0, site.daily_capacity - site_taken.get(day, 0)))
        if free <= 0:
            status = DayStatus.SOLD_OUT
        elif free <= capacity_per_day[day] * settings.TICKETING["FEW_LEFT_THRESHOLD"]:
            status = DayStatus.FEW_LEFT
        else:
            status = DayStatus.AVAILABLE
        result.append(CalendarDay(day, status, free))
    return result


def exhibition_day_slots(
    *, exhibition: Exhibition, day: dt.date, now: dt.datetime | None = None
) -> tuple[list[SlotAvailability], Closure | None]:
    """The slots of one day with their free places, and the closure if the site is closed."""
    now = now or timezone.now()
    closure = Closure.objects.filter(site_id=exhibition.site_id).covering(day).first()
    if closure is not None:
        return [], closure
    slots = list(_bookable_slots(exhibition, day, day).filter(ends_at__gt=now))
    ids = [s.pk for s in slots]
    taken = seats_taken(slot_ids=ids, now=now)
    kept = seats_kept_for_resellers(slot_ids=ids, now=now)
    cap_left: int | None = None
    site = exhibition.site
    if site.daily_capacity is not None:
        cap_left = max(0, site.daily_capacity - site_seats_taken_on(site=site, day=day, now=now))
    result = []
    for slot in slots:
        free = max(0, slot.capacity - taken.get(slot.pk, 0) - kept.get(slot.pk, 0))
        if cap_left is not None:
            free = min(free, cap_left)
        result.append(SlotAvailability(slot, free))
    return result, None


def ticket_types_for_exhibition(exhibition: Exhibition) -> list[TicketType]:
    """Ticket types on sale for an exhibition: its own and the site-wide ones."""
    return list(
        TicketType.objects.filter(site_id=exhibition.site_id, is_active=True)
        .filter(Q(exhibition__isnull=True) | Q(exhibition=exhibition))
        .order_by("position", "pk")
    )


def site_is_closed_on(*, site_id: int, day: dt.date) -> bool:
    return Closure.objects.filter(site_id=site_id).covering(day).exists()


def opening_hours_for(site: Site) -> list[OpeningHours]:
    return list(site.opening_hours.all())


def order_get_by_token(token: str) -> Order | None:
    """The order whose public link carries ``token``, or None."""
    if not token or len(token) > 64:
        return None
    return Order.objects.select_related("site", "reseller").filter(access_token=token).first()


def order_tickets(order: Order) -> list[Ticket]:
    return list(
        order.tickets.select_related(
            "time_slot", "time_slot__exhibition", "time_slot__site", "ticket_type"
        ).order_by("pk")
    )


def order_tickets_email_context(*, order: Order, tickets: list[Ticket]) -> dict[str, Any]:
    """The context of the tickets e-mail (templates/emails/ticketing/order_tickets.*).

    Call it in the buyer's language: names of the museum's content are read in the active
    one. ``tickets`` need their slot, exhibition and ticket type loaded.
    """
    from django.urls import reverse

    return {
        "order_code": order.code,
        "name": order.name,
        "order_url": settings.SITE_URL
        + reverse("ticketing:order_detail", kwargs={"token": order.access_token}),
        "tickets": [
            {
                "type": str(t.ticket_type.name),
                "exhibition": str(t.time_slot.exhibition.name),
                "starts_at": timezone.localtime(t.time_slot.starts_at),
            }
            for t in tickets
        ],
        "site_name": str(order.site.name) if order.site is not None else "",
        "total": order.total,
    }


@register_context(ORDER_TICKETS_EMAIL)
def order_tickets_email_context_for(context_ref: dict[str, Any]) -> dict[str, Any]:
    """The tickets e-mail's context when it is sent, from its outbox row's reference.

    The order as it is then, with the tickets listed in ``context_ref["tickets"]`` (ids),
    or all of its tickets without that list.

    Raises: Order.DoesNotExist when the order is gone (the send fails and is recorded).
    """
    order = Order.objects.select_related("site").get(pk=int(context_ref["ref"]))
    tickets = order_tickets(order)
    if "tickets" in context_ref:
        wanted = set(context_ref["tickets"])
        tickets = [t for t in tickets if t.pk in wanted]
    return order_tickets_email_context(order=order, tickets=tickets)


def orders_for_user(user) -> QuerySet[Order]:
    """A signed-in visitor's own orders, newest first."""
    return (
        Order.objects.filter(user=user)
        .exclude(status=Order.Status.EXPIRED)
        .select_related("site")
        .order_by("-created_at")
    )


def card_numbers_for_user(user) -> list[str]:
    """Numbers of the signed-in visitor's usable museum cards, to prefill a booking."""
    from accounts.models import MuseumCard

    return list(
        MuseumCard.objects.filter(
            holder=user,
            status__in=[MuseumCard.Status.ACTIVE, MuseumCard.Status.NOT_ACTIVATED],
        ).values_list("number", flat=True)[:10]
    )
