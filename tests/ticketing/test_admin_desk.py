"""The admin: selling at the front desk and the actions on an order."""

from __future__ import annotations

import pytest
from django.urls import reverse

from museum.models import AuditEvent, OutboxEmail
from tests.ticketing.admin_helpers import NOW, _messages, _paid_order, at
from tests.ticketing.factories import (
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing import selectors
from ticketing.models import Order, Ticket
from ticketing.services.checkin import ticket_check_in
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.usefixtures("_frozen_clock")


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
