"""Stripe Checkout end to end: the stripe library talks to a fake Stripe over HTTP, and
webhooks are signed as Stripe signs them and posted to the real endpoint."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from museum.models import OutboxEmail
from tests.fakes.stripe_http import FakeStripeHTTP, event_payload, install, signature_header
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.errors import PaymentError
from ticketing.models import Order, Payment, Ticket, TimeSlot, WebhookEvent
from ticketing.payments.stripe import StripeProvider, checkout_locale
from ticketing.services.orders import OrderLine, order_place, orders_expire_holds
from ticketing.services.payments import payment_refund, payment_start

SECRET_KEY = "sk_test_51FakeKeyForTheTestSuite"
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
SUCCESS_URL = "http://testserver/order/tok/"
CANCEL_URL = "http://testserver/order/tok/pay/"


@pytest.fixture
def fake_stripe(settings, monkeypatch) -> FakeStripeHTTP:
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PAYMENT_PROVIDER = "stripe"
    return install(monkeypatch)


def _slot(capacity: int = 20) -> TimeSlot:
    return TimeSlotFactory(capacity=capacity)


def _held_order(
    *,
    slot: TimeSlot | None = None,
    quantity: int = 2,
    language: str = "en",
    email: str = "buyer@example.org",
    now: dt.datetime | None = None,
) -> Order:
    slot = slot or _slot()
    adult = TicketTypeFactory(site=slot.site, price_cents=1400)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.WEB,
        email=email,
        name="Ada Buyer",
        language=language,
        now=now,
    )


def _start(order: Order, now: dt.datetime | None = None) -> Payment:
    return payment_start(order=order, success_url=SUCCESS_URL, cancel_url=CANCEL_URL, now=now)


def _post(client, payload: bytes, header: str | None):
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
    return client.post(
        reverse("ticketing:stripe_webhook"),
        data=payload,
        content_type="application/json",
        **extra,
    )


def _deliver(client, event_type: str, obj: dict, *, event_id: str | None = None):
    payload = event_payload(event_type, obj, event_id=event_id)
    return _post(client, payload, signature_header(payload, secret=WEBHOOK_SECRET))


def _ticket_statuses(order: Order) -> list[str]:
    return list(order.tickets.order_by("pk").values_list("status", flat=True))


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


# --- webhooks in any order ------------------------------------------------------------------


def _state(order: Order) -> tuple:
    order.refresh_from_db()
    payment = order.payments.get()
    return (
        order.status,
        tuple(_ticket_statuses(order)),
        payment.status,
        bool(payment.payment_intent),
        OutboxEmail.objects.filter(dedupe_key__startswith=f"ticketing.order_tickets:{order.pk}:")
        .values_list("dedupe_key", flat=True)
        .count(),
    )


def _paid_scenario(
    fake: FakeStripeHTTP, tag: str
) -> tuple[Order, dict[str, tuple[str, str, dict]]]:
    """A fresh order paid on Stripe, and the events Stripe may deliver about it."""
    order = _held_order()
    payment = _start(order)
    session = fake.pay(payment.reference)
    expired = dict(session, status="expired", payment_status="unpaid", url=None)
    completed = (f"evt_{tag}_completed", "checkout.session.completed", session)
    events = {
        "completed": completed,
        "completed redelivered": completed,
        "expired": (f"evt_{tag}_expired", "checkout.session.expired", expired),
    }
    return order, events


def test_payment_events_in_any_order_end_in_the_ordered_state(db, client, fake_stripe):
    # given the ordered sequence: completed, then a stale expired event, then a redelivery
    ordered = ["completed", "expired", "completed redelivered"]
    order, events = _paid_scenario(fake_stripe, "ordered")
    for name in ordered:
        assert _deliver(client, events[name][1], events[name][2], event_id=events[name][0])
    expected = _state(order)
    assert expected == (
        Order.Status.PAID,
        (Ticket.Status.VALID, Ticket.Status.VALID),
        Payment.Status.SUCCEEDED,
        True,
        1,
    )
    # when every other order of arrival happens to a fresh order
    finals = {}
    for n, sequence in enumerate(itertools.permutations(ordered)):
        order, events = _paid_scenario(fake_stripe, f"p{n}")
        for name in sequence:
            response = _deliver(client, events[name][1], events[name][2], event_id=events[name][0])
            assert response.status_code == 200
        finals[sequence] = _state(order)
    # then each ends exactly where the ordered sequence did
    assert finals == dict.fromkeys(itertools.permutations(ordered), expected)


def test_async_payment_events_in_any_order_end_in_the_ordered_state(db, client, fake_stripe):
    # given a bank payment: completed (unpaid), then async success, delivered twice
    def scenario(tag: str) -> tuple[Order, dict[str, tuple[str, str, dict]]]:
        order = _held_order()
        payment = _start(order)
        pending = fake_stripe.pay(payment.reference, payment_status="unpaid")
        succeeded = (
            f"evt_{tag}_async",
            "checkout.session.async_payment_succeeded",
            dict(pending, payment_status="paid"),
        )
        return order, {
            "completed": (f"evt_{tag}_completed", "checkout.session.completed", pending),
            "async succeeded": succeeded,
            "async succeeded redelivered": succeeded,
        }

    ordered = ["completed", "async succeeded", "async succeeded redelivered"]
    order, events = scenario("ordered")
    for name in ordered:
        _deliver(client, events[name][1], events[name][2], event_id=events[name][0])
    expected = _state(order)
    assert expected[0] == Order.Status.PAID
    # when the events arrive in every other order
    finals = {}
    for n, sequence in enumerate(itertools.permutations(ordered)):
        order, events = scenario(f"p{n}")
        for name in sequence:
            _deliver(client, events[name][1], events[name][2], event_id=events[name][0])
        finals[sequence] = _state(order)
    # then they all end paid once
    assert finals == dict.fromkeys(itertools.permutations(ordered), expected)


def _refund_state(order: Order) -> tuple:
    order.refresh_from_db()
    payment = order.payments.get()
    return (order.status, tuple(_ticket_statuses(order)), payment.status, payment.refund_reference)


def test_events_after_a_requested_refund_in_any_order_end_refunded(
    db, client, fake_stripe, django_capture_on_commit_callbacks
):
    # given orders paid with a wrong amount (so the shop refunds them), and the events
    # Stripe may then deliver in any order: the refund, a stale expiry, a redelivery
    def scenario(tag: str) -> tuple[Order, dict[str, tuple[str, str, dict]]]:
        order = _held_order()
        payment = _start(order)
        session = fake_stripe.pay(payment.reference, amount_total=order.total_cents - 1)
        completed = (f"evt_{tag}_completed", "checkout.session.completed", session)
        with django_capture_on_commit_callbacks(execute=True):
            assert _deliver(client, *completed[1:], event_id=completed[0]).content == b"refunding"
        charge = fake_stripe.charge(session["payment_intent"])
        assert charge["refunded"] is True
        return order, {
            "refunded": (f"evt_{tag}_refunded", "charge.refunded", charge),
            "expired": (
                f"evt_{tag}_expired",
                "checkout.session.expired",
                dict(session, status="expired"),
            ),
            "completed redelivered": completed,
        }

    ordered = ["refunded", "expired", "completed redelivered"]
    finals = {}
    for n, sequence in enumerate(itertools.permutations(ordered)):
        order, events = scenario(f"p{n}")
        for name in sequence:
            _deliver(client, events[name][1], events[name][2], event_id=events[name][0])
        state = _refund_state(order)
        finals[sequence] = state[:3]
        assert state[3].startswith("re_")
    # then every order of arrival ends refunded
    refunded = (
        Order.Status.REFUNDED,
        (Ticket.Status.CANCELLED, Ticket.Status.CANCELLED),
        Payment.Status.REFUNDED,
    )
    assert finals == dict.fromkeys(itertools.permutations(ordered), refunded)
    assert len(fake_stripe.refunds) == 6


def test_dashboard_refund_arriving_before_completed_ends_like_the_ordered_sequence(
    db, client, fake_stripe
):
    def scenario(tag: str) -> tuple[Order, list[tuple[str, str, dict]]]:
        order = _held_order()
        payment = _start(order)
        session = fake_stripe.pay(payment.reference)
        fake_stripe.refund_in_dashboard(session["payment_intent"])
        return order, [
            (f"evt_{tag}_completed", "checkout.session.completed", session),
            (
                f"evt_{tag}_refunded",
                "charge.refunded",
                fake_stripe.charge(session["payment_intent"]),
            ),
        ]

    order, events = scenario("ordered")
    for event_id, event_type, obj in events:
        _deliver(client, event_type, obj, event_id=event_id)
    expected = _state(order)
    order, events = scenario("reversed")
    for event_id, event_type, obj in reversed(events):
        _deliver(client, event_type, obj, event_id=event_id)
    assert _state(order) == expected


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
