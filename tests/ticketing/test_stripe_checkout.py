"""Stripe Checkout end to end: starting a payment and the webhooks that pay it. The stripe
library talks to a fake Stripe over HTTP; webhooks are signed as Stripe signs them."""

from __future__ import annotations

import time

import pytest

from museum.models import OutboxEmail
from tests.fakes.stripe_http import event_payload, signature_header
from tests.ticketing.factories import TicketTypeFactory
from tests.ticketing.stripe_helpers import (
    CANCEL_URL,
    SECRET_KEY,
    SUCCESS_URL,
    WEBHOOK_SECRET,
    _deliver,
    _held_order,
    _post,
    _slot,
    _start,
    _ticket_statuses,
)
from ticketing.errors import PaymentError
from ticketing.models import Order, Payment, Ticket, WebhookEvent
from ticketing.payments.stripe import checkout_locale
from ticketing.services.orders import OrderLine, order_place

# --- starting a payment -------------------------------------------------------------------


def test_payment_start_creates_a_checkout_session_through_the_stripe_api(db, fake_stripe):
    # given a held order of two adult and one reduced ticket, bought in French
    slot = _slot()
    adult = TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)
    reduced = TicketTypeFactory(site=slot.site, name="Reduced", price_cents=900)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2), OrderLine(slot.pk, reduced.pk, 1)],
        channel=Order.Channel.WEB,
        email="Ada@Example.org",
        name="Ada",
        language="fr",
    )
    before = int(time.time())
    # when the buyer clicks "pay"
    payment = _start(order)
    # then one Checkout Session was created over the Stripe API, idempotently
    assert len(fake_stripe.requests) == 1
    request = fake_stripe.requests[0]
    assert (request.method, request.path, request.status) == ("POST", "/v1/checkout/sessions", 200)
    assert request.header("Idempotency-Key") == f"checkout-{order.code}-1"
    assert request.header("Authorization") == f"Bearer {SECRET_KEY}"
    params = request.params
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == order.code
    assert params["metadata"] == {"order_code": order.code}
    assert params["payment_intent_data"] == {"metadata": {"order_code": order.code}}
    assert params["customer_email"] == "ada@example.org"
    assert params["locale"] == "fr"
    assert (params["success_url"], params["cancel_url"]) == (SUCCESS_URL, CANCEL_URL)
    assert [
        (i["quantity"], i["price_data"]["unit_amount"], i["price_data"]["currency"])
        for i in params["line_items"]
    ] == [("2", "1400", "eur"), ("1", "900", "eur")]
    assert params["line_items"][0]["price_data"]["product_data"]["name"].startswith("Adult")
    assert before + 30 * 60 <= int(params["expires_at"]) <= int(time.time()) + 32 * 60
    # and the payment points at the session Stripe answered with
    session = fake_stripe.session(payment.reference)
    assert payment.reference.startswith("cs_test_")
    assert payment.redirect_url == session["url"]
    assert session["amount_total"] == order.total_cents == 3700
    assert session["currency"] == "eur"
    assert (payment.provider, payment.status, payment.payment_intent) == (
        "stripe",
        Payment.Status.STARTED,
        "",
    )
    assert (payment.amount_cents, payment.currency) == (3700, "EUR")


def test_a_second_click_reuses_the_open_session(db, fake_stripe):
    # given an order whose payment has started
    order = _held_order()
    first = _start(order)
    # when the buyer clicks "pay" again
    second = _start(order)
    # then the same session is reused and Stripe was called once
    assert second.pk == first.pk
    assert second.redirect_url == first.redirect_url
    assert len(fake_stripe.requests) == 1
    assert Payment.objects.filter(order=order).count() == 1


def test_stripe_refusing_the_session_raises_payment_error_and_stores_nothing(db, fake_stripe):
    # given Stripe answers the next request with an error
    order = _held_order()
    fake_stripe.fail_next(status=400, message="Invalid currency: xxx")
    # when the payment starts
    with pytest.raises(PaymentError):
        _start(order)
    # then the request was made, but no payment exists and the order still waits
    assert [r.status for r in fake_stripe.requests] == [400]
    assert not Payment.objects.filter(order=order).exists()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


@pytest.mark.parametrize(
    ("language", "locale"),
    [("fr", "fr"), ("nl", "nl"), ("fi", "fi"), ("sv", "sv"), ("en", "en"), ("en-us", "en")]
    + [("xx", "auto"), ("", "auto")],
)
def test_checkout_locale_follows_the_order_language(language, locale):
    assert checkout_locale(language) == locale


# --- webhooks: paying -------------------------------------------------------------------


def test_signed_checkout_completed_pays_the_order(db, client, fake_stripe):
    # given a held order whose buyer paid on Stripe's page
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    # when Stripe posts checkout.session.completed
    response = _deliver(client, "checkout.session.completed", session, event_id="evt_paid_1")
    # then the order is paid, its tickets valid, and the tickets e-mail is in the outbox
    assert response.status_code == 200
    assert response.content == b"paid"
    order.refresh_from_db()
    payment.refresh_from_db()
    assert (order.status, order.payment_method) == (Order.Status.PAID, "stripe")
    assert order.hold_expires_at is None
    assert _ticket_statuses(order) == [Ticket.Status.VALID] * 2
    assert payment.status == Payment.Status.SUCCEEDED
    assert payment.payment_intent == session["payment_intent"]
    email = OutboxEmail.objects.get()
    assert (email.dedupe_key, email.to) == (
        f"ticketing.order_tickets:{order.pk}:0",
        "buyer@example.org",
    )
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type, event.outcome) == (
        "stripe",
        "evt_paid_1",
        "checkout.session.completed",
        "paid",
    )
    assert event.created is not None


def _unsigned(payload: bytes) -> tuple[bytes, str | None]:
    return payload, None


def _wrong_secret(payload: bytes) -> tuple[bytes, str | None]:
    return payload, signature_header(payload, secret="whsec_someone_else")


def _altered_after_signing(payload: bytes) -> tuple[bytes, str | None]:
    header = signature_header(payload, secret=WEBHOOK_SECRET)
    return payload.replace(b'"paid"', b'"paid" '), header


def _too_old(payload: bytes) -> tuple[bytes, str | None]:
    return payload, signature_header(
        payload, secret=WEBHOOK_SECRET, timestamp=int(time.time()) - 600
    )


def _not_json(payload: bytes) -> tuple[bytes, str | None]:
    body = b"not json"
    return body, signature_header(body, secret=WEBHOOK_SECRET)


@pytest.mark.parametrize(
    "tamper", [_unsigned, _wrong_secret, _altered_after_signing, _too_old, _not_json]
)
def test_unverifiable_webhook_is_refused_and_changes_nothing(db, client, fake_stripe, tamper):
    # given a paid session, and a webhook for it that does not verify
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    payload, header = tamper(event_payload("checkout.session.completed", session))
    # when it is posted
    response = _post(client, payload, header)
    # then it is refused and nothing changed
    assert response.status_code == 400
    order.refresh_from_db()
    payment.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert _ticket_statuses(order) == [Ticket.Status.RESERVED] * 2
    assert (payment.status, payment.payment_intent) == (Payment.Status.STARTED, "")
    assert not WebhookEvent.objects.exists()
    assert not OutboxEmail.objects.exists()


def test_the_same_event_delivered_twice_is_handled_once(db, client, fake_stripe):
    # given a completed event that was already handled
    order = _held_order()
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    payload = event_payload("checkout.session.completed", session, event_id="evt_twice")
    first = _post(client, payload, signature_header(payload, secret=WEBHOOK_SECRET))
    # when Stripe delivers it again
    second = _post(client, payload, signature_header(payload, secret=WEBHOOK_SECRET))
    # then the second delivery is acknowledged and does nothing
    assert (first.status_code, first.content) == (200, b"paid")
    assert (second.status_code, second.content) == (200, b"duplicate_event")
    assert WebhookEvent.objects.count() == 1
    assert OutboxEmail.objects.count() == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_completed_with_a_pending_bank_payment_waits_for_async_success(db, client, fake_stripe):
    # given a session completed with a payment that is still being processed
    order = _held_order()
    payment = _start(order)
    pending = fake_stripe.pay(payment.reference, payment_status="unpaid")
    # when Stripe posts completed (unpaid)
    waiting = _deliver(client, "checkout.session.completed", pending)
    # then nothing is paid yet
    assert waiting.content == b"ignored"
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    # when the bank confirms
    paid = dict(pending, payment_status="paid")
    confirmed = _deliver(client, "checkout.session.async_payment_succeeded", paid)
    # then the order is paid
    assert confirmed.content == b"paid"
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert _ticket_statuses(order) == [Ticket.Status.VALID] * 2


def test_an_expired_session_marks_the_payment_failed(db, client, fake_stripe):
    # given a started payment whose session ran out
    order = _held_order()
    payment = _start(order)
    expired = fake_stripe.expire(payment.reference)
    # when Stripe posts checkout.session.expired
    response = _deliver(client, "checkout.session.expired", expired)
    # then the payment failed and the order is untouched
    assert response.content == b"failed"
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert order.status == Order.Status.PENDING
    assert _ticket_statuses(order) == [Ticket.Status.RESERVED] * 2
