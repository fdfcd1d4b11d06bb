"""Reads of the ticket shop: availability, calendars, orders. No writes here."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

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
