"""The admin: resellers, generating slots, sales."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from museum.models import AuditEvent
from tests.ticketing.admin_helpers import NOW, TODAY, _messages, _paid_order, at
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TimeSlotFactory,
)
from ticketing.models import Order, Reseller, SlotRule, TimeSlot
from ticketing.services.desk import sales_per_day
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.usefixtures("_frozen_clock")


# --- Resellers -----------------------------------------------------------------------


def test_manager_creates_a_reseller_and_sees_its_token_once(manager, manager_user):
    from ticketing.api.auth import hash_token

    response = manager.post(
        reverse("admin:ticketing_reseller_add"),
        {"name": "City Pass", "contact_email": "Sales@CityPass.example"},
    )
    reseller = Reseller.objects.get()
    token = response.context["token"]
    assert response.status_code == 200
    assert token in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert (reseller.name, reseller.contact_email, reseller.token_hash) == (
        "City Pass",
        "sales@citypass.example",
        hash_token(token),
    )
    assert AuditEvent.objects.get(action="reseller.created").actor == manager_user
    # and the reseller's page never shows the token again
    page = manager.get(reverse("admin:ticketing_reseller_change", args=[reseller.pk]))
    assert token not in page.content.decode()


def test_front_desk_cannot_create_a_reseller(desk):
    response = desk.post(
        reverse("admin:ticketing_reseller_add"),
        {"name": "Shady", "contact_email": "x@example.org"},
    )
    assert response.status_code == 403
    assert not Reseller.objects.exists()


def test_reseller_form_with_a_bad_email_keeps_what_was_typed(manager):
    response = manager.post(
        reverse("admin:ticketing_reseller_add"), {"name": "City Pass", "contact_email": "nope"}
    )
    assert response.status_code == 200
    assert 'value="City Pass"' in response.content.decode()
    assert not Reseller.objects.exists()


# --- Generating slots ------------------------------------------------------------------


def test_manager_generates_slots_from_the_changelist(manager, db):
    exhibition = ExhibitionFactory(site=SiteFactory())
    SlotRule.objects.create(
        exhibition=exhibition, capacity=5, interval_minutes=60, valid_until=TODAY
    )
    # when the manager presses "Generate slots now"
    response = manager.post(reverse("admin:ticketing_timeslot_generate"))
    # then today's slots exist: 9:00 to 17:00 hourly (last entry an hour before 18:00)
    assert response.status_code == 302
    assert TimeSlot.objects.filter(exhibition=exhibition).count() == 9
    assert _messages(response) == ["9 time slots created."]


def test_generate_action_on_selected_slots_runs_the_generator(manager, slot):
    SlotRule.objects.create(
        exhibition=slot.exhibition, capacity=5, interval_minutes=60, valid_until=TODAY
    )
    response = manager.post(
        reverse("admin:ticketing_timeslot_changelist"),
        {"action": "generate_slots_now", "_selected_action": [slot.pk], "index": 0},
    )
    # then the hours from 9:00 to 17:00 exist; the 10:00 slot that was there is left alone
    assert response.status_code == 302
    assert TimeSlot.objects.filter(exhibition=slot.exhibition).count() == 9
    assert _messages(response) == ["8 time slots created."]
    slot.refresh_from_db()
    assert slot.capacity == 10


# --- Sales ---------------------------------------------------------------------------


def test_manager_sees_sales_per_day_and_occupancy(manager, slot, adult):
    # given 2 tickets paid today, one of them then cancelled, and 3 paid yesterday
    order = _paid_order(slot, adult, quantity=2)
    from ticketing.services.orders import tickets_cancel

    tickets_cancel(order=order, ticket_ids=[order.tickets.first().pk], now=NOW)
    yesterday_slot = TimeSlotFactory(
        exhibition=slot.exhibition, starts_at=at(10, days=1), ends_at=at(11, days=1)
    )
    order_place(
        lines=[OrderLine(yesterday_slot.pk, adult.pk, 3)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        now=NOW - dt.timedelta(days=1),
    )
    # when the manager opens Sales
    response = manager.get(reverse("admin:ticketing_payment_sales"))
    # then the last 30 days are listed, net of cancellations, by day of payment
    assert response.status_code == 200
    days = response.context["days"]
    assert len(days) == 30
    assert (days[-1].day, days[-1].tickets, days[-1].revenue_cents) == (TODAY, 1, 1400)
    assert (days[-2].tickets, days[-2].revenue_cents) == (3, 4200)
    assert days[-2].channels == [("front desk", 3)]
    assert response.context["total_revenue_cents"] == 5600
    # and today's occupancy chart has the slot
    [chart] = response.context["occupancy"]
    assert [r["row"].slot for r in chart["rows"]] == [slot]
    assert "<svg" in response.content.decode()


def test_sales_query_count_is_fixed(manager, slot, adult, django_assert_max_num_queries):
    _paid_order(slot, adult)
    url = reverse("admin:ticketing_payment_sales")
    with CaptureQueriesContext(connection) as few:
        manager.get(url)
    for hour in range(11, 16):
        extra = TimeSlotFactory(
            exhibition=slot.exhibition, starts_at=at(hour), ends_at=at(hour, 30)
        )
        _paid_order(extra, adult, quantity=1)
    with django_assert_max_num_queries(len(few)):
        manager.get(url)


def test_sales_per_day_counts_every_day_of_the_range(slot, adult):
    _paid_order(slot, adult, quantity=2)
    days = sales_per_day(first=TODAY - dt.timedelta(days=2), last=TODAY)
    assert [(d.day, d.tickets, d.revenue_cents) for d in days] == [
        (TODAY - dt.timedelta(days=2), 0, 0),
        (TODAY - dt.timedelta(days=1), 0, 0),
        (TODAY, 2, 2800),
    ]
