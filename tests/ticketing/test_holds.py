"""Held seats: they expire, the sweep marks them, and a late payment is handled honestly."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from museum.models import AuditEvent, OutboxEmail
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.errors import OrderNotPayable, SoldOut
from ticketing.models import Order, Payment, Ticket, WebhookEvent
from ticketing.payments.demo import DemoProvider
from ticketing.services.orders import OrderLine, order_place, orders_expire_holds
from ticketing.services.payments import Outcome, payment_event_handle, payment_start

pytestmark = pytest.mark.django_db


def _hold(slot, ticket_type, quantity, *, language="en", now=None):
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.WEB,
        email="late@example.org",
        name="Léa",
        language=language,
        now=now,
    )


def _pay_with_demo(order, *, now=None):
    """Start a demo payment and post back the demo provider's signed event."""
    payment = payment_start(
        order=order, success_url="http://testserver/ok", cancel_url="http://testserver/no"
    )
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    outcome = payment_event_handle(provider_name="demo", event=event, now=now)
    return payment, event, outcome


def test_a_hold_frees_its_seats_the_moment_it_expires():
    # given a slot of 2, both seats held at 12:00
    slot = TimeSlotFactory(capacity=2)
    adult = TicketTypeFactory(site=slot.site)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        held = _hold(slot, adult, 2)
        # when another buyer tries 14 minutes 59 later, the seats are still held
        traveller.shift(dt.timedelta(minutes=14, seconds=59))
        with pytest.raises(SoldOut):
            _hold(slot, adult, 1)
        # then one second after 15 minutes they are free without any sweep having run
        traveller.shift(dt.timedelta(seconds=1))
        second = _hold(slot, adult, 2)
    assert second.tickets.count() == 2
    held.refresh_from_db()
    assert held.status == Order.Status.PENDING  # only the sweep changes the status


def test_expired_hold_cannot_be_paid_any_more():
    slot = TimeSlotFactory(capacity=2)
    adult = TicketTypeFactory(site=slot.site)
    start = timezone.now()
    order = _hold(slot, adult, 1, now=start)
    with (
        time_machine.travel(start + dt.timedelta(minutes=16), tick=False),
        pytest.raises(OrderNotPayable) as excinfo,
    ):
        payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    assert "15 minutes" in str(excinfo.value.message)
    assert Payment.objects.count() == 0


def test_the_sweep_marks_expired_holds_and_a_second_run_changes_nothing():
    # given a hold that expired, one still running and a paid free order
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    start = timezone.now()
    expired = _hold(slot, adult, 1, now=start - dt.timedelta(minutes=20))
    running = _hold(slot, adult, 1, now=start - dt.timedelta(minutes=5))
    # when the sweep runs
    first = orders_expire_holds(now=start)
    # then only the expired one changes
    expired.refresh_from_db()
    running.refresh_from_db()
    assert first == 1
    assert expired.status == Order.Status.EXPIRED
    assert running.status == Order.Status.PENDING
    snapshot = list(Order.objects.order_by("pk").values("pk", "status", "updated_at"))
    # and running it again does nothing more
    assert orders_expire_holds(now=start) == 0
    assert list(Order.objects.order_by("pk").values("pk", "status", "updated_at")) == snapshot


def test_a_demo_payment_within_the_hold_pays_the_order(django_capture_on_commit_callbacks):
    # given a held order of two adult tickets
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    order = _hold(slot, adult, 2)
    # when the buyer pays with the demo provider
    with django_capture_on_commit_callbacks(execute=True):
        payment, _event, outcome = _pay_with_demo(order)
    # then the order is paid, its tickets valid and e-mailed once
    order.refresh_from_db()
    payment.refresh_from_db()
    assert outcome == Outcome.PAID
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.amount_cents == 2800
    assert order.status == Order.Status.PAID
    assert order.payment_method == "demo"
    assert order.hold_expires_at is None
    assert list(order.tickets.values_list("status", flat=True)) == [Ticket.Status.VALID] * 2
    assert len(mail.outbox) == 1
    assert order.code in mail.outbox[0].subject


def test_the_same_payment_event_twice_is_handled_once():
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    order = _hold(slot, adult, 1)
    _payment, event, outcome = _pay_with_demo(order)
    assert outcome == Outcome.PAID
    audit_before = AuditEvent.objects.count()
    # when the same event arrives again
    again = payment_event_handle(provider_name="demo", event=event)
    # then it is recognised and changes nothing
    assert again == Outcome.DUPLICATE_EVENT
    assert WebhookEvent.objects.count() == 1
    assert AuditEvent.objects.count() == audit_before
    assert OutboxEmail.objects.count() == 1


def test_a_late_demo_payment_gets_the_seats_if_they_are_still_free():
    # given a held order whose hold expired and was swept, seats still free
    slot = TimeSlotFactory(capacity=2)
    adult = TicketTypeFactory(site=slot.site)
    start = timezone.now()
    order = _hold(slot, adult, 2, now=start)
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    late = start + dt.timedelta(minutes=30)
    orders_expire_holds(now=late)
    # when the demo payment arrives late
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    outcome = payment_event_handle(provider_name="demo", event=event, now=late)
    # then the order gets its seats back and is paid
    order.refresh_from_db()
    assert outcome == Outcome.PAID
    assert order.status == Order.Status.PAID
    assert order.tickets.filter(status=Ticket.Status.VALID).count() == 2
    # and the slot is now full
    with pytest.raises(SoldOut):
        _hold(slot, adult, 1, now=late)


def test_a_late_payment_for_seats_sold_meanwhile_is_refunded_and_the_buyer_told_in_french(
    django_capture_on_commit_callbacks,
):
    # given a French buyer's hold that expired and another buyer who took the seats
    slot = TimeSlotFactory(capacity=2)
    adult = TicketTypeFactory(site=slot.site)
    start = timezone.now()
    order = _hold(slot, adult, 2, language="fr", now=start)
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    late = start + dt.timedelta(minutes=20)
    _hold(slot, adult, 2, now=late)
    # when the first buyer's demo payment arrives
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = payment_event_handle(provider_name="demo", event=event, now=late)
        # then, at the commit, the order is waiting for its refund
        order.refresh_from_db()
        assert order.status == Order.Status.REFUND_PENDING
    assert outcome == Outcome.REFUNDING
    assert len(callbacks) >= 2  # the refund task and the e-mail
    # and after the refund task ran (the demo refunds at once) it is refunded
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert payment.status == Payment.Status.REFUNDED
    assert payment.refund_reference.startswith("demo_re_")
    assert order.tickets.filter(status=Ticket.Status.CANCELLED).count() == 2
    email = OutboxEmail.objects.get(dedupe_key=f"ticketing.late_payment_refund:{payment.pk}")
    assert email.language == "fr"
    assert email.to == "late@example.org"
    assert email.subject == f"Commande {order.code} : votre paiement est en cours de remboursement"
    assert [m.to for m in mail.outbox] == [["late@example.org"]]
    assert sorted(
        AuditEvent.objects.filter(subject_id=str(order.pk)).values_list("action", flat=True)
    ) == ["order.placed", "payment.refund_requested", "payment.refunded"]


def test_a_late_payment_after_the_slot_has_ended_is_refunded_not_issued():
    # given a hold placed 10 minutes before the slot ended, never paid in time
    slot = TimeSlotFactory(capacity=5)
    adult = TicketTypeFactory(site=slot.site)
    order = _hold(slot, adult, 1, now=slot.ends_at - dt.timedelta(minutes=10))
    payment = payment_start(
        order=order,
        success_url="http://x/ok",
        cancel_url="http://x/no",
        now=slot.ends_at - dt.timedelta(minutes=9),
    )
    # when the payment arrives after the hold and after the slot's end, seats still free
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    outcome = payment_event_handle(
        provider_name="demo", event=event, now=slot.ends_at + dt.timedelta(minutes=6)
    )
    # then the money goes back instead of buying a ticket for a visit that is over
    order.refresh_from_db()
    assert outcome == Outcome.REFUNDING
    assert order.status == Order.Status.REFUND_PENDING
    assert order.tickets.filter(status=Ticket.Status.VALID).count() == 0


def test_a_late_payment_for_a_day_closed_meanwhile_is_refunded_not_issued():
    # given an expired hold on a day the museum has since closed
    from museum.models import Closure

    slot = TimeSlotFactory(capacity=5)
    adult = TicketTypeFactory(site=slot.site)
    start = timezone.now()
    order = _hold(slot, adult, 1, now=start)
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    day = timezone.localtime(slot.starts_at).date()
    Closure.objects.create(site=slot.site, starts_on=day, ends_on=day, reason="Strike")
    # when the payment arrives late
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    outcome = payment_event_handle(
        provider_name="demo", event=event, now=start + dt.timedelta(minutes=20)
    )
    # then it is refunded
    order.refresh_from_db()
    assert outcome == Outcome.REFUNDING
    assert order.status == Order.Status.REFUND_PENDING
