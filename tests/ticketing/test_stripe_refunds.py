"""Stripe refunds and late payments, against a fake Stripe over HTTP."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from museum.models import OutboxEmail
from tests.fakes.stripe_http import event_payload, signature_header
from tests.ticketing.stripe_helpers import (
    WEBHOOK_SECRET,
    _deliver,
    _held_order,
    _slot,
    _start,
    _ticket_statuses,
)
from ticketing.errors import PaymentError
from ticketing.models import Order, Payment, Ticket, WebhookEvent
from ticketing.payments.stripe import StripeProvider
from ticketing.services.orders import orders_expire_holds
from ticketing.services.payments import payment_refund

# --- refunds --------------------------------------------------------------------------------


def test_amount_mismatch_refunds_through_stripe_instead_of_paying(
    db, client, fake_stripe, django_capture_on_commit_callbacks
):
    # given a session for which Stripe reports another amount than the order's total
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference, amount_total=100)
    # when the completed event arrives (and the refund task runs after commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = _deliver(client, "checkout.session.completed", session)
    # then the order is not paid; the money is being refunded
    assert response.content == b"refunding"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.REFUND_PENDING
    assert _ticket_statuses(order) == [Ticket.Status.CANCELLED] * 2
    assert (payment.status, payment.amount_cents) == (Payment.Status.REFUND_REQUESTED, 100)
    assert not OutboxEmail.objects.exists()
    # and the refund was asked of Stripe for that payment intent, with an idempotency key
    (refund_call,) = fake_stripe.calls("POST", "/v1/refunds")
    assert refund_call.params["payment_intent"] == session["payment_intent"]
    assert refund_call.params["amount"] == "100"
    assert refund_call.params["metadata"] == {
        "order_code": order.code,
        "checkout_session": payment.reference,
    }
    assert refund_call.header("Idempotency-Key") == f"refund-{payment.reference}"
    (refund,) = fake_stripe.refunds.values()
    assert payment.refund_reference == refund["id"]


def test_running_the_refund_task_again_does_not_refund_twice(
    db, client, fake_stripe, django_capture_on_commit_callbacks
):
    # given a refund already requested from Stripe
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference, amount_total=100)
    with django_capture_on_commit_callbacks(execute=True):
        _deliver(client, "checkout.session.completed", session)
    payment.refresh_from_db()
    first_reference = payment.refund_reference
    # when the task runs again (a retry after a lost answer)
    again = payment_refund(payment_id=payment.pk)
    # then Stripe replays the same refund: one refund, same reference
    assert again == first_reference
    assert len(fake_stripe.calls("POST", "/v1/refunds")) == 2
    assert len(fake_stripe.refunds) == 1
    assert fake_stripe.charge(session["payment_intent"])["amount_refunded"] == 100


def test_refund_looks_the_payment_intent_up_when_the_payment_lacks_it(db, fake_stripe):
    # given a payment the shop stored before Stripe created its payment intent
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    assert payment.payment_intent == ""
    # when it is refunded
    reference = StripeProvider().refund(
        payment=payment, amount_cents=2800, idempotency_key="refund-lookup"
    )
    # then the session was read first, then the refund created for its payment intent
    assert [(r.method, r.path) for r in fake_stripe.requests[1:]] == [
        ("GET", f"/v1/checkout/sessions/{payment.reference}"),
        ("POST", "/v1/refunds"),
    ]
    assert fake_stripe.requests[-1].params["payment_intent"] == session["payment_intent"]
    assert list(fake_stripe.refunds) == [reference]


def test_refund_refused_by_stripe_raises_payment_error(db, fake_stripe):
    # given a paid payment and Stripe refusing the refund
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    payment.payment_intent = session["payment_intent"]
    fake_stripe.fail_next(status=400, message="Charge has already been refunded.")
    # when it is refunded
    with pytest.raises(PaymentError) as raised:
        StripeProvider().refund(payment=payment, amount_cents=2800, idempotency_key="refund-x")
    # then the error says why, and no refund exists
    assert "already been refunded" in str(raised.value.message)
    assert fake_stripe.refunds == {}


def test_partial_refund_is_not_taken_for_a_full_refund(db, fake_stripe):
    # given a charge of which only part was refunded
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    fake_stripe.refund_in_dashboard(session["payment_intent"], amount=1400)
    payload = event_payload("charge.refunded", fake_stripe.charge(session["payment_intent"]))
    # when the event is parsed
    event = StripeProvider().parse_webhook(
        payload=payload,
        headers={"stripe-signature": signature_header(payload, secret=WEBHOOK_SECRET)},
    )
    # then it is ignored, with what was refunded
    assert (event.event_type, event.raw_type) == ("ignored", "charge.refunded")
    assert (event.payment_intent, event.amount_cents) == (session["payment_intent"], 1400)


# --- late payments --------------------------------------------------------------------------


def test_payment_after_the_hold_expired_pays_when_the_seats_are_still_free(db, client, fake_stripe):
    # given an order whose hold ran out while the buyer was on Stripe's page
    started = timezone.now() - dt.timedelta(minutes=20)
    order = _held_order(now=started)
    payment = _start(order, now=started + dt.timedelta(minutes=1))
    assert orders_expire_holds() == 1
    session = fake_stripe.pay(payment.reference)
    # when the payment arrives
    response = _deliver(client, "checkout.session.completed", session)
    # then the seats are taken again and the order paid
    assert response.content == b"paid"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert _ticket_statuses(order) == [Ticket.Status.VALID] * 2
    assert fake_stripe.calls("POST", "/v1/refunds") == []


def test_payment_after_the_seats_were_sold_is_refunded_and_the_buyer_told_in_french(
    db, client, fake_stripe, django_capture_on_commit_callbacks
):
    # given a French buyer whose hold ran out, and the last two seats since held by another
    slot = _slot(capacity=2)
    started = timezone.now() - dt.timedelta(minutes=20)
    order = _held_order(slot=slot, language="fr", email="lea@example.fr", now=started)
    payment = _start(order, now=started + dt.timedelta(minutes=1))
    orders_expire_holds()
    other = _held_order(slot=slot, email="other@example.org")
    session = fake_stripe.pay(payment.reference)
    # when the late payment arrives
    with django_capture_on_commit_callbacks(execute=True):
        response = _deliver(client, "checkout.session.completed", session)
    # then the money goes back through Stripe with an idempotency key
    assert response.content == b"refunding"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.REFUND_PENDING
    assert _ticket_statuses(order) == [Ticket.Status.CANCELLED] * 2
    assert payment.status == Payment.Status.REFUND_REQUESTED
    (refund_call,) = fake_stripe.calls("POST", "/v1/refunds")
    assert refund_call.params["payment_intent"] == session["payment_intent"]
    assert refund_call.params["amount"] == "2800"
    assert refund_call.header("Idempotency-Key") == f"refund-{payment.reference}"
    assert list(fake_stripe.refunds) == [payment.refund_reference]
    # and the buyer got the late-payment e-mail in French, sent after commit
    email = OutboxEmail.objects.get(dedupe_key=f"ticketing.late_payment_refund:{payment.pk}")
    assert (email.to, email.language, email.status) == (
        "lea@example.fr",
        "fr",
        OutboxEmail.Status.SENT,
    )
    assert order.code in email.subject
    assert [m.to for m in mail.outbox] == [["lea@example.fr"]]
    # and the other buyer's hold is untouched
    other.refresh_from_db()
    assert other.status == Order.Status.PENDING
    assert _ticket_statuses(other) == [Ticket.Status.RESERVED] * 2


def test_an_event_about_an_unknown_session_is_acknowledged_and_ignored(db, client, fake_stripe):
    # given an event about no payment the shop knows
    obj = {"id": "cs_test_unknown", "object": "checkout.session", "payment_status": "paid"}
    obj |= {"amount_total": 100, "currency": "eur", "payment_intent": "pi_unknown"}
    # when it is delivered
    response = _deliver(client, "checkout.session.completed", obj)
    # then it is acknowledged (Stripe stops retrying) and recorded as ignored
    assert (response.status_code, response.content) == (200, b"ignored")
    assert WebhookEvent.objects.get().outcome == "ignored"
    assert not Payment.objects.exists()


def test_full_refund_in_the_dashboard_voids_the_unused_tickets_of_a_paid_order(
    db, client, fake_stripe
):
    # given an order paid on Stripe
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    _deliver(client, "checkout.session.completed", session, event_id="evt_paid")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    # when the museum refunds the whole charge in Stripe's dashboard
    fake_stripe.refund_in_dashboard(session["payment_intent"])
    response = _deliver(
        client,
        "charge.refunded",
        fake_stripe.charge(session["payment_intent"]),
        event_id="evt_refunded",
    )
    # then the order is refunded and its tickets no longer admit
    assert response.status_code == 200
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    assert payment.status == Payment.Status.REFUNDED
    assert _ticket_statuses(order) == [Ticket.Status.CANCELLED] * 2
