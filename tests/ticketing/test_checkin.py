"""Checking tickets in at the entrance: each ticket admits once, at its time."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.contrib.auth.models import Permission
from django.db import connections
from django.urls import reverse

from accounts.models import User
from museum.models import AuditEvent
from tests.staff import totp_activate
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Ticket
from ticketing.services.checkin import ScanResult, ticket_check_in
from ticketing.services.orders import OrderLine, order_place, tickets_cancel


def _paid_ticket(*, quantity=1) -> Ticket:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )
    return order.tickets.order_by("pk").first()


def _usher(*, allowed: bool) -> User:
    user = User.objects.create_user("usher@museum.example", is_staff=True)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="check_in"))
    totp_activate(user)  # staff use the check-in page only with a second factor
    return user


@pytest.mark.django_db
def test_a_valid_ticket_is_admitted_and_records_when_where_and_who():
    # given a paid ticket and an usher at the north gate, 5 minutes into the slot
    ticket = _paid_ticket()
    usher = _usher(allowed=True)
    now = ticket.time_slot.starts_at + dt.timedelta(minutes=5)
    # when its code is scanned (with a scanner's trailing newline)
    outcome = ticket_check_in(code=ticket.secret + "\n", gate="North", actor=usher, now=now)
    # then it is valid and the admission is recorded and audited
    ticket.refresh_from_db()
    assert outcome.result == ScanResult.VALID
    assert outcome.ticket.pk == ticket.pk
    assert ticket.checked_in_at == now
    assert ticket.checked_in_gate == "North"
    assert ticket.checked_in_by == usher
    event = AuditEvent.objects.get(action="ticket.checked_in")
    assert event.subject_id == str(ticket.pk)
    assert event.actor == usher
    assert event.data == {"gate": "North"}


@pytest.mark.django_db
def test_a_second_scan_says_already_used_with_when_and_where():
    # given a ticket admitted at the north gate
    ticket = _paid_ticket()
    first_at = ticket.time_slot.starts_at + dt.timedelta(minutes=1)
    ticket_check_in(code=ticket.secret, gate="North", now=first_at)
    # when it is scanned again later at the south gate
    outcome = ticket_check_in(
        code=ticket.secret, gate="South", now=first_at + dt.timedelta(minutes=3)
    )
    # then it is refused as used, with the first admission's time and gate, unchanged
    assert outcome.result == ScanResult.ALREADY_USED
    assert outcome.ticket.checked_in_at == first_at
    assert outcome.ticket.checked_in_gate == "North"
    ticket.refresh_from_db()
    assert ticket.checked_in_at == first_at
    assert ticket.checked_in_gate == "North"
    assert AuditEvent.objects.filter(action="ticket.checked_in").count() == 1


@pytest.mark.django_db
def test_a_cancelled_ticket_is_refused_as_cancelled():
    ticket = _paid_ticket(quantity=2)
    tickets_cancel(order=ticket.order, ticket_ids=[ticket.pk])
    outcome = ticket_check_in(code=ticket.secret, now=ticket.time_slot.starts_at)
    ticket.refresh_from_db()
    assert outcome.result == ScanResult.CANCELLED
    assert ticket.checked_in_at is None


@pytest.mark.django_db
def test_a_ticket_of_an_unpaid_order_is_refused():
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB, email="a@example.org"
    )
    ticket = order.tickets.get()
    outcome = ticket_check_in(code=ticket.secret, now=slot.starts_at)
    ticket.refresh_from_db()
    assert outcome.result == ScanResult.CANCELLED
    assert ticket.checked_in_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "code",
    ["", "   ", "\n", "not-a-ticket", "'; DROP TABLE ticketing_ticket; --", "é" * 5, "x" * 10_000],
)
def test_unknown_empty_garbage_or_very_long_codes_are_unknown(code):
    # given one valid ticket
    ticket = _paid_ticket()
    # when something else is scanned
    outcome = ticket_check_in(code=code, now=ticket.time_slot.starts_at)
    # then it is unknown and the ticket is untouched
    assert outcome.result == ScanResult.UNKNOWN
    assert outcome.ticket is None
    ticket.refresh_from_db()
    assert ticket.checked_in_at is None
    assert AuditEvent.objects.filter(action="ticket.checked_in").count() == 0


@pytest.mark.django_db
def test_a_real_secret_followed_by_garbage_is_unknown():
    ticket = _paid_ticket()
    outcome = ticket_check_in(code=ticket.secret + "x" * 100, now=ticket.time_slot.starts_at)
    assert outcome.result == ScanResult.UNKNOWN


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("offset_from", "minutes", "expected"),
    [
        ("start", -16, ScanResult.WRONG_SLOT),
        ("start", -15, ScanResult.VALID),
        ("start", -1, ScanResult.VALID),
        ("end", 15, ScanResult.VALID),
        ("end", 16, ScanResult.WRONG_SLOT),
        ("start", 60 * 24, ScanResult.WRONG_SLOT),
    ],
)
def test_scans_outside_the_slot_beyond_the_grace_are_wrong_slot(offset_from, minutes, expected):
    # given a ticket for a 30-minute slot and a grace of 15 minutes
    ticket = _paid_ticket()
    base = ticket.time_slot.starts_at if offset_from == "start" else ticket.time_slot.ends_at
    # when it is scanned at the given offset
    outcome = ticket_check_in(code=ticket.secret, now=base + dt.timedelta(minutes=minutes))
    # then it is admitted only inside the grace
    ticket.refresh_from_db()
    assert outcome.result == expected
    assert (ticket.checked_in_at is not None) == (expected == ScanResult.VALID)


@pytest.mark.django_db(transaction=True)
def test_simultaneous_scans_of_one_ticket_admit_exactly_once():
    # given one paid ticket and 8 gates scanning it at the same moment
    ticket = _paid_ticket()
    now = ticket.time_slot.starts_at
    barrier = threading.Barrier(8)
    results: Counter = Counter()
    lock = threading.Lock()

    def scan(gate: str) -> None:
        try:
            barrier.wait(timeout=30)
            result = ticket_check_in(code=ticket.secret, gate=gate, now=now).result
        except Exception as exc:
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            results[result] += 1

    threads = [threading.Thread(target=scan, args=(f"gate-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then exactly one scan says VALID and the 7 others ALREADY USED
    assert results == Counter({ScanResult.VALID: 1, ScanResult.ALREADY_USED: 7})
    assert AuditEvent.objects.filter(action="ticket.checked_in").count() == 1
    ticket.refresh_from_db()
    assert ticket.checked_in_gate.startswith("gate-")


# --- the entrance page ------------------------------------------------------------------


@pytest.mark.django_db
def test_check_in_page_sends_anonymous_visitors_to_sign_in(client):
    response = client.get(reverse("ticketing:check_in"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_check_in_page_refuses_staff_without_the_permission(client):
    ticket = _paid_ticket()
    client.force_login(_usher(allowed=False))
    assert client.get(reverse("ticketing:check_in")).status_code == 403
    response = client.post(reverse("ticketing:check_in"), {"code": ticket.secret, "gate": "N"})
    assert response.status_code == 403
    ticket.refresh_from_db()
    assert ticket.checked_in_at is None


@pytest.mark.django_db
def test_check_in_page_admits_a_ticket_for_an_usher_with_the_permission(client, settings):
    # given an usher allowed to check in, and a ticket whose slot is running now
    import time_machine

    ticket = _paid_ticket()
    usher = _usher(allowed=True)
    client.force_login(usher)
    with time_machine.travel(ticket.time_slot.starts_at, tick=False):
        # when the usher scans it twice at the main gate
        first = client.post(reverse("ticketing:check_in"), {"code": ticket.secret, "gate": "Main"})
        second = client.post(reverse("ticketing:check_in"), {"code": ticket.secret, "gate": "Main"})
        unknown = client.post(reverse("ticketing:check_in"), {"code": "nope", "gate": "Main"})
    # then the first says VALID, the second ALREADY USED with the gate, garbage UNKNOWN
    assert first.status_code == 200
    assert first.context["outcome"].result == ScanResult.VALID
    assert "VALID" in first.content.decode()
    assert second.context["outcome"].result == ScanResult.ALREADY_USED
    assert "ALREADY USED" in second.content.decode()
    assert "Main" in second.content.decode()
    assert unknown.context["outcome"].result == ScanResult.UNKNOWN
    ticket.refresh_from_db()
    assert ticket.checked_in_by == usher
    assert ticket.checked_in_gate == "Main"
