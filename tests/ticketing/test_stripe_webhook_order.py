"""Stripe webhooks arriving in any order, signed as Stripe signs them and posted to the real
endpoint."""

from __future__ import annotations

import itertools

from museum.models import OutboxEmail
from tests.fakes.stripe_http import FakeStripeHTTP
from tests.ticketing.stripe_helpers import _deliver, _held_order, _start, _ticket_statuses
from ticketing.models import Order, Payment, Ticket

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
