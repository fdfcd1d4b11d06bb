"""The admin: what each staff group may see, and the Today page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from museum.models import Site
from tests.ticketing.admin_helpers import NOW, TODAY, _form_data, _paid_order, _staff, at
from tests.ticketing.factories import (
    ResellerFactory,
    TimeSlotFactory,
)
from ticketing import selectors
from ticketing.models import Order, ResellerAllocation, SlotRule, TimeSlot
from ticketing.services.checkin import ticket_check_in
from ticketing.services.desk import day_board, time_slots_with_occupancy
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.usefixtures("_frozen_clock")


# --- What each group may see ---------------------------------------------------------


def test_front_desk_can_view_and_search_orders(desk, slot, adult):
    # given a paid order and another one
    order = _paid_order(slot, adult)
    other = _paid_order(slot, adult, email="someone@example.org")
    # when the desk searches the order list by the order's code
    response = desk.get(reverse("admin:ticketing_order_changelist"), {"q": order.code})
    # then only that order is listed, and its page opens
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [order]
    assert other.code not in response.content.decode()
    assert desk.get(reverse("admin:ticketing_order_change", args=[order.pk])).status_code == 200


def test_front_desk_finds_an_order_by_email(desk, slot, adult):
    order = _paid_order(slot, adult, email="ada@example.org")
    _paid_order(slot, adult, email="bob@example.org")
    response = desk.get(reverse("admin:ticketing_order_changelist"), {"q": "ada@"})
    assert list(response.context["cl"].result_list) == [order]


def test_front_desk_cannot_change_a_ticket_type_price(desk, adult):
    # given the desk may look at ticket types
    url = reverse("admin:ticketing_tickettype_change", args=[adult.pk])
    assert desk.get(url).status_code == 200
    # when it posts a new price
    response = desk.post(url, {"price_cents": "1", "site": adult.site_id, "kind": "adult"})
    # then it is refused and the price stays
    assert response.status_code == 403
    adult.refresh_from_db()
    assert adult.price_cents == 1400


def test_front_desk_cannot_add_a_site(desk):
    sites_before = Site.objects.count()
    url = reverse("admin:museum_site_add")
    assert desk.get(url).status_code == 403
    response = desk.post(url, {"slug": "annex", "name_en": "Annex"})
    assert response.status_code == 403
    assert Site.objects.count() == sites_before


def test_front_desk_gets_403_on_the_sales_page(desk):
    assert desk.get(reverse("admin:ticketing_payment_sales")).status_code == 403


def test_front_desk_cannot_see_payments_or_resellers(desk):
    assert desk.get(reverse("admin:ticketing_payment_changelist")).status_code == 403
    assert desk.get(reverse("admin:ticketing_reseller_changelist")).status_code == 403


def test_front_desk_cannot_generate_slots(desk, slot):
    SlotRule.objects.create(exhibition=slot.exhibition, capacity=5, interval_minutes=60)
    slots_before = TimeSlot.objects.count()
    response = desk.post(reverse("admin:ticketing_timeslot_generate"))
    assert response.status_code == 403
    assert TimeSlot.objects.count() == slots_before


def test_staff_without_a_group_cannot_use_today_or_sell(db, slot):
    client = Client()
    client.force_login(_staff("nobody@museum.example", None))
    assert client.get(reverse("admin:ticketing_timeslot_today")).status_code == 403
    assert client.get(reverse("admin:ticketing_order_sell")).status_code == 403


def test_anonymous_visitor_is_sent_to_the_admin_login(db):
    response = Client().get(reverse("admin:ticketing_order_sell"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_manager_changes_a_ticket_type_price(manager, adult):
    # given the manager opens the ticket type's page
    url = reverse("admin:ticketing_tickettype_change", args=[adult.pk])
    data = _form_data(manager.get(url))
    # when they post it with a new price
    data["price_cents"] = "1600"
    response = manager.post(url, data)
    # then the price is changed
    assert response.status_code == 302, response.context["adminform"].form.errors
    adult.refresh_from_db()
    assert adult.price_cents == 1600


def test_admin_home_shows_the_front_desk_box_by_permission(desk, manager):
    desk_page = desk.get(reverse("admin:index")).content.decode()
    manager_page = manager.get(reverse("admin:index")).content.decode()
    assert reverse("admin:ticketing_timeslot_today") in desk_page
    assert reverse("admin:ticketing_order_sell") in desk_page
    assert reverse("admin:ticketing_payment_sales") not in desk_page
    assert reverse("admin:ticketing_payment_sales") in manager_page


# --- Today ---------------------------------------------------------------------------


def test_today_shows_capacity_sold_held_checked_in_and_free(desk, slot, adult):
    # given 3 sold (one checked in) and 2 held on the web, in a slot of 10
    order = _paid_order(slot, adult, quantity=3)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)], channel=Order.Channel.WEB, email="w@x.example"
    )
    ticket_check_in(code=order.tickets.first().secret, now=at(10, 5))
    # and a slot of tomorrow that is not today's business
    TimeSlotFactory(exhibition=slot.exhibition, starts_at=at(10, days=1), ends_at=at(11, days=1))
    # when the desk opens Today
    response = desk.get(reverse("admin:ticketing_timeslot_today"))
    # then the one slot of today has the right figures
    assert response.status_code == 200
    [board] = response.context["boards"]
    [row] = board.rows
    assert (row.slot, row.slot.capacity, row.sold, row.held, row.checked_in, row.free) == (
        slot,
        10,
        3,
        2,
        1,
        5,
    )
    assert f'data-slot="{slot.pk}"' in response.content.decode()


def test_today_free_places_match_what_the_shop_would_sell(slot, adult):
    # given a sale, a hold, an expired hold and a reseller allocation of 3, 1 of it sold
    _paid_order(slot, adult, quantity=2)
    order_place(lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB, now=NOW)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.WEB,
        now=NOW - dt.timedelta(hours=1),
    )
    reseller = ResellerFactory()
    ResellerAllocation.objects.create(reseller=reseller, time_slot=slot, seats=3)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
        now=NOW,
    )
    # when the board and the shop count the free places
    [board] = day_board(day=TODAY, now=NOW)
    [shop], _ = selectors.exhibition_day_slots(exhibition=slot.exhibition, day=TODAY, now=NOW)
    # then they agree: 10 - 3 sold - 1 held - 2 kept for the reseller
    assert board.rows[0].kept_for_resellers == 2
    assert board.rows[0].free == shop.free == 4


def test_today_applies_the_site_daily_cap(slot, adult):
    slot.site.daily_capacity = 12
    slot.site.save()
    second = TimeSlotFactory(
        exhibition=slot.exhibition, starts_at=at(11), ends_at=at(11, 30), capacity=10
    )
    _paid_order(second, adult, quantity=10)
    [board] = day_board(day=TODAY, now=NOW)
    assert board.daily_cap_left == 2
    assert [r.free for r in board.rows] == [2, 0]


def test_today_query_count_does_not_grow_with_slots(
    desk, slot, adult, django_assert_max_num_queries
):
    # given one slot with tickets
    _paid_order(slot, adult)
    url = reverse("admin:ticketing_timeslot_today")
    with CaptureQueriesContext(connection) as one_slot:
        assert desk.get(url).status_code == 200
    # when there are fifteen more slots, on two sites, with tickets and an allocation
    other_site_slot = TimeSlotFactory(starts_at=at(9), ends_at=at(9, 30))
    ResellerAllocation.objects.create(
        reseller=ResellerFactory(), time_slot=other_site_slot, seats=1
    )
    for minute in range(14):
        extra = TimeSlotFactory(
            exhibition=slot.exhibition, starts_at=at(12, minute * 4), ends_at=at(13, minute * 4)
        )
        _paid_order(extra, adult, quantity=1)
    # then the page runs no more queries than with one slot
    with django_assert_max_num_queries(len(one_slot)):
        response = desk.get(url)
    assert sum(len(b.rows) for b in response.context["boards"]) == 16


def test_time_slot_changelist_query_count_does_not_grow_with_slots(
    manager, slot, adult, django_assert_max_num_queries
):
    _paid_order(slot, adult)
    url = reverse("admin:ticketing_timeslot_changelist")
    with CaptureQueriesContext(connection) as one_slot:
        assert manager.get(url).status_code == 200
    for hour in range(11, 17):
        extra = TimeSlotFactory(
            exhibition=slot.exhibition, starts_at=at(hour), ends_at=at(hour, 30)
        )
        _paid_order(extra, adult, quantity=1)
        TimeSlotFactory(starts_at=at(hour), ends_at=at(hour, 30))
    with django_assert_max_num_queries(len(one_slot)):
        response = manager.get(url)
    assert response.context["cl"].result_count == 13


def test_time_slot_changelist_shows_sold_and_held(manager, slot, adult):
    _paid_order(slot, adult, quantity=3)
    order_place(lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB, now=NOW)
    response = manager.get(reverse("admin:ticketing_timeslot_changelist"))
    [listed] = response.context["cl"].result_list
    assert (listed.sold, listed.held, listed.kept) == (3, 1, 0)


def test_occupancy_annotation_leaves_out_cancelled_and_expired(slot, adult):
    order = _paid_order(slot, adult, quantity=2)
    from ticketing.services.orders import tickets_cancel

    tickets_cancel(order=order, ticket_ids=[order.tickets.first().pk], now=NOW)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 4)],
        channel=Order.Channel.WEB,
        now=NOW - dt.timedelta(hours=2),
    )
    annotated = time_slots_with_occupancy(TimeSlot.objects.filter(pk=slot.pk), now=NOW).get()
    assert (annotated.sold, annotated.held, annotated.checked_in) == (1, 0, 0)


def test_manager_sees_reseller_allocations_on_a_slot_and_the_desk_does_not(manager, desk, slot):
    ResellerAllocation.objects.create(
        reseller=ResellerFactory(name="City Pass"), time_slot=slot, seats=4
    )
    url = reverse("admin:ticketing_timeslot_change", args=[slot.pk])
    manager_page = manager.get(url)
    desk_page = desk.get(url)
    assert manager_page.status_code == desk_page.status_code == 200
    assert "City Pass" in manager_page.content.decode()
    assert "City Pass" not in desk_page.content.decode()
