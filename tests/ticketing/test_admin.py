"""The staff admin: what the front desk and managers can see and do, and nothing more."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from museum.models import AuditEvent, OutboxEmail, Site
from tests.staff import totp_activate
from tests.ticketing.factories import (
    ExhibitionFactory,
    ResellerFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing import selectors
from ticketing.models import Order, Reseller, ResellerAllocation, SlotRule, Ticket, TimeSlot
from ticketing.services.checkin import ticket_check_in
from ticketing.services.desk import day_board, sales_per_day, time_slots_with_occupancy
from ticketing.services.orders import OrderLine, order_place

TZ = timezone.get_current_timezone()
# A Wednesday morning, before the first slot of the day.
NOW = dt.datetime(2031, 5, 14, 8, 30, tzinfo=TZ)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def at(hour: int, minute: int = 0, *, days: int = 0) -> dt.datetime:
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=TZ)


def _staff(email: str, group: str | None) -> User:
    user = User.objects.create_user(email=email, password="x-unused-x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    totp_activate(user)  # staff reach the admin only with a second factor
    return user


@pytest.fixture
def desk_user(db) -> User:
    return _staff("desk@museum.example", "Front desk")


@pytest.fixture
def manager_user(db) -> User:
    return _staff("manager@museum.example", "Manager")


@pytest.fixture
def desk(desk_user) -> Client:
    client = Client()
    client.force_login(desk_user)
    return client


@pytest.fixture
def manager(manager_user) -> Client:
    client = Client()
    client.force_login(manager_user)
    return client


@pytest.fixture
def slot(db) -> TimeSlot:
    return TimeSlotFactory(starts_at=at(10), ends_at=at(10, 30), capacity=10)


@pytest.fixture
def adult(slot):
    return TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)


def _paid_order(slot, ticket_type, quantity=2, email="visitor@example.org") -> Order:
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.DESK,
        email=email,
        name="Visitor",
        payment_method=Order.PaymentMethod.CASH,
        now=NOW,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _form_data(response) -> dict:
    """The values of the admin change form as a browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = field.widget.format_value(value) if hasattr(value, "pk") else value
    return data


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


# --- Selling at the desk -------------------------------------------------------------


def test_desk_sees_the_slots_it_can_sell(desk, slot, adult):
    past = TimeSlotFactory(exhibition=slot.exhibition, starts_at=at(7), ends_at=at(8))
    far = TimeSlotFactory(
        exhibition=slot.exhibition, starts_at=at(10, days=7), ends_at=at(11, days=7)
    )
    response = desk.get(reverse("admin:ticketing_order_sell"))
    listed = [row.slot for _, rows in response.context["days"] for row in rows]
    assert listed == [slot]
    assert past not in listed and far not in listed


def test_desk_sale_creates_a_paid_desk_order_and_emails_it(desk, desk_user, slot, adult):
    child = TicketTypeFactory(site=slot.site, name="Child", price_cents=500, kind="child")
    # when the desk sells 2 adults and 1 child for cash with an e-mail address
    response = desk.post(
        reverse("admin:ticketing_order_sell"),
        {
            "slot": slot.pk,
            f"qty_{adult.pk}": "2",
            f"qty_{child.pk}": "1",
            "name": "Ada Lovelace",
            "email": "Ada@Example.org",
            "language": "fr",
            "payment_method": "cash",
        },
    )
    # then a paid desk order with three valid tickets exists, sold by this user
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:ticketing_order_sold", args=[order.pk])
    assert (order.status, order.channel, order.payment_method) == (
        Order.Status.PAID,
        Order.Channel.DESK,
        Order.PaymentMethod.CASH,
    )
    assert (order.total_cents, order.created_by, order.email, order.language) == (
        3300,
        desk_user,
        "ada@example.org",
        "fr",
    )
    assert sorted(order.tickets.values_list("status", flat=True)) == [Ticket.Status.VALID] * 3
    # and the tickets are queued for e-mail, with their PDF
    [email] = OutboxEmail.objects.all()
    assert email.to == "ada@example.org"
    assert email.attachments == [{"kind": "ticketing.order_pdf", "ref": str(order.pk)}]
    # and the page after the sale links the PDF
    done = desk.get(response["Location"])
    assert reverse("admin:ticketing_order_pdf", args=[order.pk]) in done.content.decode()


def test_desk_sale_by_card_terminal_without_email_sends_nothing(desk, slot, adult):
    desk.post(
        reverse("admin:ticketing_order_sell"),
        {
            "slot": slot.pk,
            f"qty_{adult.pk}": "1",
            "language": "en",
            "payment_method": "card_terminal",
        },
    )
    order = Order.objects.get()
    assert (order.status, order.payment_method, order.email) == (
        Order.Status.PAID,
        Order.PaymentMethod.CARD_TERMINAL,
        "",
    )
    assert not OutboxEmail.objects.exists()


def test_desk_sale_over_capacity_shows_the_error_and_creates_nothing(desk, slot, adult):
    # given 8 of the 10 places are sold
    _paid_order(slot, adult, quantity=8, email="")
    orders_before, tickets_before = Order.objects.count(), Ticket.objects.count()
    # when the desk tries to sell 3 more
    response = desk.post(
        reverse("admin:ticketing_order_sell"),
        {
            "slot": slot.pk,
            f"qty_{adult.pk}": "3",
            "name": "Group leader",
            "email": "lead@example.org",
            "language": "en",
            "payment_method": "cash",
        },
    )
    # then the form comes back with the reason and what was typed, and nothing is sold
    assert response.status_code == 200
    page = response.content.decode()
    assert "Only 2 places are left in this time slot." in page
    assert 'value="Group leader"' in page
    assert 'value="lead@example.org"' in page
    assert (Order.objects.count(), Ticket.objects.count()) == (orders_before, tickets_before)
    assert not OutboxEmail.objects.exists()


def test_desk_sale_without_tickets_asks_for_one(desk, slot, adult):
    response = desk.post(
        reverse("admin:ticketing_order_sell"),
        {"slot": slot.pk, f"qty_{adult.pk}": "0", "language": "en", "payment_method": "cash"},
    )
    assert response.status_code == 200
    assert "Choose at least one ticket." in response.content.decode()
    assert not Order.objects.exists()


def test_desk_cannot_sell_a_slot_outside_the_desk_window(desk, slot, adult):
    far = TimeSlotFactory(
        exhibition=slot.exhibition, starts_at=at(10, days=9), ends_at=at(11, days=9)
    )
    response = desk.post(
        reverse("admin:ticketing_order_sell"),
        {"slot": far.pk, f"qty_{adult.pk}": "1", "language": "en", "payment_method": "cash"},
    )
    assert response.status_code == 404
    assert not Order.objects.exists()


def test_desk_prints_the_tickets_pdf(desk, slot, adult):
    order = _paid_order(slot, adult, quantity=1)
    response = desk.get(reverse("admin:ticketing_order_pdf", args=[order.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_pdf_of_an_unpaid_order_is_not_found(desk, slot, adult):
    order = order_place(lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB)
    assert desk.get(reverse("admin:ticketing_order_pdf", args=[order.pk])).status_code == 404


# --- Order actions -------------------------------------------------------------------


def test_desk_resends_the_tickets(desk, desk_user, slot, adult):
    order = _paid_order(slot, adult)
    response = desk.post(
        reverse("admin:ticketing_order_changelist"),
        {"action": "resend_tickets", "_selected_action": [order.pk], "index": 0},
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.resend_count == 1
    assert OutboxEmail.objects.filter(dedupe_key=f"ticketing.order_tickets:{order.pk}:1").exists()
    assert AuditEvent.objects.filter(action="order.resent", actor=desk_user).count() == 1


def test_resend_without_email_shows_the_domain_error(desk, slot, adult):
    order = _paid_order(slot, adult, email="")
    response = desk.post(
        reverse("admin:ticketing_order_changelist"),
        {"action": "resend_tickets", "_selected_action": [order.pk], "index": 0},
    )
    assert _messages(response) == [f"{order.code}: This order has no e-mail address."]
    order.refresh_from_db()
    assert order.resend_count == 0
    assert not OutboxEmail.objects.exists()


def test_cancel_action_first_asks_for_confirmation(desk, slot, adult):
    order = _paid_order(slot, adult)
    response = desk.post(
        reverse("admin:ticketing_order_changelist"),
        {"action": "cancel_unscanned_tickets", "_selected_action": [order.pk], "index": 0},
    )
    assert response.status_code == 200
    assert response.templates[0].name == "admin/ticketing/order/cancel_tickets.html"
    assert set(order.tickets.values_list("status", flat=True)) == {Ticket.Status.VALID}


def test_desk_cancels_unscanned_tickets_and_the_places_return(desk, desk_user, slot, adult):
    # given an order of 2 tickets in a slot of 10
    order = _paid_order(slot, adult, quantity=2)
    first, second = order.tickets.order_by("pk")
    # when the desk confirms cancelling one of them
    response = desk.post(
        reverse("admin:ticketing_order_changelist"),
        {
            "action": "cancel_unscanned_tickets",
            "_selected_action": [order.pk],
            "confirm": "yes",
            "ticket": [first.pk],
            "reason": "Visitor is ill",
        },
    )
    # then that ticket is cancelled, the other stays valid and the place is free again
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Ticket.Status.CANCELLED, Ticket.Status.VALID)
    assert selectors.seats_taken(slot_ids=[slot.pk], now=NOW) == {slot.pk: 1}
    event = AuditEvent.objects.get(action="tickets.cancelled")
    assert (event.actor, event.data["tickets"], event.data["reason"]) == (
        desk_user,
        [first.pk],
        "Visitor is ill",
    )


def test_cancel_action_on_a_scanned_ticket_refuses_and_changes_nothing(desk, slot, adult):
    # given an order of 2 tickets, one already scanned at the entrance
    order = _paid_order(slot, adult, quantity=2)
    scanned, other = order.tickets.order_by("pk")
    ticket_check_in(code=scanned.secret, now=at(10, 1))
    events_before = AuditEvent.objects.count()
    # when the desk tries to cancel both
    response = desk.post(
        reverse("admin:ticketing_order_changelist"),
        {
            "action": "cancel_unscanned_tickets",
            "_selected_action": [order.pk],
            "confirm": "yes",
            "ticket": [scanned.pk, other.pk],
        },
    )
    # then it is refused with the reason, and neither ticket nor the order changed
    assert response.status_code == 302
    assert _messages(response) == [
        f"{order.code}: Some of these tickets were already used or cancelled; nothing was changed."
    ]
    scanned.refresh_from_db()
    other.refresh_from_db()
    order.refresh_from_db()
    assert (scanned.status, other.status, order.status) == (
        Ticket.Status.VALID,
        Ticket.Status.VALID,
        Order.Status.PAID,
    )
    assert scanned.checked_in_at is not None
    assert AuditEvent.objects.count() == events_before


def test_front_desk_cannot_edit_or_delete_an_order(desk, slot, adult):
    order = _paid_order(slot, adult)
    url = reverse("admin:ticketing_order_change", args=[order.pk])
    desk.post(url, {"email": "thief@example.org", "status": "cancelled"})
    assert desk.get(reverse("admin:ticketing_order_delete", args=[order.pk])).status_code == 403
    order.refresh_from_db()
    assert (order.email, order.status) == ("visitor@example.org", Order.Status.PAID)


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
