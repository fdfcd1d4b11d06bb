"""Generating time slots from rules over a rolling horizon."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from museum.models import Closure, OpeningHours
from ticketing.models import SlotRule, TimeSlot


def _starts_for_day(rule: SlotRule, hours: list[OpeningHours], day: dt.date) -> list[dt.datetime]:
    tz = timezone.get_current_timezone()
    starts = []
    step = dt.timedelta(minutes=rule.interval_minutes)
    for period in hours:
        opens = dt.datetime.combine(day, period.opens_at, tzinfo=tz)
        closes = dt.datetime.combine(day, period.closes_at, tzinfo=tz)
        last_entry = closes - dt.timedelta(minutes=rule.last_entry_before_close_minutes)
        current = opens
        while current <= last_entry and current < closes:
            starts.append(current)
            current += step
    return starts


def time_slots_generate(*, today: dt.date | None = None, horizon_days: int | None = None) -> int:
    """Create the missing slots of every rule from today over the horizon; returns how many.

    Days on which the site is closed (no opening hours, a closure) or the exhibition does
    not run get no slots. Existing slots, edited in the admin or not, are left as they
    are: the unique (exhibition, start) constraint makes a second run create nothing.
    Side effects: TimeSlot rows.
    """
    today = today or timezone.localdate()
    horizon_days = horizon_days or settings.TICKETING["SLOT_HORIZON_DAYS"]
    last = today + dt.timedelta(days=horizon_days - 1)
    created = 0
    rules = SlotRule.objects.select_related("exhibition", "exhibition__site").filter(
        exhibition__is_active=True, exhibition__site__is_active=True
    )
    for rule in rules:
        exhibition = rule.exhibition
        site = exhibition.site
        hours_by_day: dict[int, list[OpeningHours]] = {}
        for period in site.opening_hours.all():
            hours_by_day.setdefault(period.weekday, []).append(period)
        closures = list(Closure.objects.filter(site=site).overlapping(today, last))
        new_slots = []
        day = max(today, rule.valid_from or today)
        end = min(last, rule.valid_until or last)
        while day <= end:
            if (
                (not rule.weekdays or day.weekday() in rule.weekdays)
                and day.weekday() in hours_by_day
                and exhibition.runs_on(day)
                and not any(c.starts_on <= day <= c.ends_on for c in closures)
            ):
                for start in _starts_for_day(rule, hours_by_day[day.weekday()], day):
                    new_slots.append(
                        TimeSlot(
                            site=site,
                            exhibition=exhibition,
                            starts_at=start,
                            ends_at=start + dt.timedelta(minutes=rule.duration_minutes),
                            capacity=rule.capacity,
                            rule=rule,
                        )
                    )
            day += dt.timedelta(days=1)
        before = TimeSlot.objects.filter(exhibition=exhibition).count()
        TimeSlot.objects.bulk_create(new_slots, ignore_conflicts=True, batch_size=500)
        created += TimeSlot.objects.filter(exhibition=exhibition).count() - before
    return created
