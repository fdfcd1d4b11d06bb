"""Generating time slots from rules: opening hours, closures, exhibition dates, reruns."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from museum.models import Closure, OpeningHours
from tests.ticketing.factories import ExhibitionFactory, SiteFactory
from ticketing.models import SlotRule, TimeSlot
from ticketing.services.slots import time_slots_generate
from ticketing.tasks import generate_time_slots

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2030, 1, 7)  # a fixed week keeps weekday arithmetic readable


def _local(slot: TimeSlot) -> str:
    return timezone.localtime(slot.starts_at).strftime("%a %H:%M")


def _rule(exhibition, **kwargs) -> SlotRule:
    values = {
        "interval_minutes": 60,
        "duration_minutes": 30,
        "capacity": 25,
        "last_entry_before_close_minutes": 60,
    }
    values.update(kwargs)
    return SlotRule.objects.create(exhibition=exhibition, **values)


def test_slots_follow_the_opening_hours_and_stop_an_hour_before_closing():
    # given a site open 9-18 every day and a rule every hour, last entry 60 min before close
    exhibition = ExhibitionFactory()
    rule = _rule(exhibition)
    # when one day is generated
    created = time_slots_generate(today=MONDAY, horizon_days=1)
    # then there are slots at 9:00 ... 17:00, 30 minutes long, of 25 places
    slots = list(TimeSlot.objects.order_by("starts_at"))
    assert created == 9
    assert [_local(s) for s in slots] == [f"Mon {h:02d}:00" for h in range(9, 18)]
    assert {s.ends_at - s.starts_at for s in slots} == {dt.timedelta(minutes=30)}
    assert {s.capacity for s in slots} == {25}
    assert {s.rule_id for s in slots} == {rule.pk}
    assert {s.site_id for s in slots} == {exhibition.site_id}


def test_a_second_run_creates_nothing_and_keeps_edited_slots():
    # given generated slots, one of which was edited and one cancelled in the admin
    exhibition = ExhibitionFactory()
    _rule(exhibition)
    time_slots_generate(today=MONDAY, horizon_days=2)
    first, second = TimeSlot.objects.order_by("starts_at")[:2]
    TimeSlot.objects.filter(pk=first.pk).update(capacity=3)
    TimeSlot.objects.filter(pk=second.pk).update(is_cancelled=True)
    before = list(TimeSlot.objects.order_by("pk").values("pk", "capacity", "is_cancelled"))
    # when the generator runs again
    created = time_slots_generate(today=MONDAY, horizon_days=2)
    # then nothing changed
    assert created == 0
    assert list(TimeSlot.objects.order_by("pk").values("pk", "capacity", "is_cancelled")) == before


def test_closed_weekdays_closures_and_rule_weekdays_get_no_slots():
    # given a site closed on Mondays, closed on Wednesday for works, and a rule for Mon-Fri
    site = SiteFactory(open_every_day=False)
    for weekday in range(1, 7):
        OpeningHours.objects.create(
            site=site, weekday=weekday, opens_at=dt.time(10), closes_at=dt.time(12)
        )
    wednesday = MONDAY + dt.timedelta(days=2)
    Closure.objects.create(site=site, starts_on=wednesday, ends_on=wednesday, reason="Works")
    exhibition = ExhibitionFactory(site=site)
    _rule(exhibition, weekdays=[0, 1, 2, 3, 4])
    # when a week is generated
    time_slots_generate(today=MONDAY, horizon_days=7)
    # then only Tuesday, Thursday and Friday have slots, at 10:00 and 11:00 (the last entry)
    assert sorted(_local(s) for s in TimeSlot.objects.all()) == [
        "Fri 10:00",
        "Fri 11:00",
        "Thu 10:00",
        "Thu 11:00",
        "Tue 10:00",
        "Tue 11:00",
    ]


def test_no_slots_outside_the_exhibition_dates_or_the_rule_validity():
    exhibition = ExhibitionFactory(
        starts_on=MONDAY + dt.timedelta(days=1), ends_on=MONDAY + dt.timedelta(days=5)
    )
    _rule(
        exhibition,
        valid_from=MONDAY + dt.timedelta(days=2),
        valid_until=MONDAY + dt.timedelta(days=3),
        interval_minutes=480,
    )
    time_slots_generate(today=MONDAY, horizon_days=14)
    assert sorted({timezone.localtime(s.starts_at).date() for s in TimeSlot.objects.all()}) == [
        MONDAY + dt.timedelta(days=2),
        MONDAY + dt.timedelta(days=3),
    ]


def test_inactive_exhibitions_and_sites_get_no_slots():
    _rule(ExhibitionFactory(is_active=False))
    _rule(ExhibitionFactory(site=SiteFactory(is_active=False)))
    assert time_slots_generate(today=MONDAY, horizon_days=3) == 0
    assert TimeSlot.objects.count() == 0


def test_slots_keep_local_wall_time_across_the_daylight_saving_change():
    # 2030-03-31 is the last Sunday of March: Brussels moves from UTC+1 to UTC+2
    exhibition = ExhibitionFactory()
    _rule(exhibition, interval_minutes=480)
    time_slots_generate(today=dt.date(2030, 3, 30), horizon_days=2)
    starts = [timezone.localtime(s.starts_at) for s in TimeSlot.objects.order_by("starts_at")]
    assert [s.strftime("%Y-%m-%d %H:%M") for s in starts] == [
        "2030-03-30 09:00",
        "2030-03-30 17:00",
        "2030-03-31 09:00",
        "2030-03-31 17:00",
    ]
    assert [s.utcoffset() for s in starts] == [dt.timedelta(hours=h) for h in (1, 1, 2, 2)]


def test_the_task_generates_over_the_horizon_and_twice_is_harmless(settings):
    settings.TICKETING = {**settings.TICKETING, "SLOT_HORIZON_DAYS": 3}
    _rule(ExhibitionFactory(), interval_minutes=480)
    assert generate_time_slots.delay().get() == 6
    assert generate_time_slots.delay().get() == 0
    assert TimeSlot.objects.count() == 6
