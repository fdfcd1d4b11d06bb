"""Shared helpers of the Stripe Checkout tests: orders, payments and signed webhooks."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from tests.fakes.stripe_http import event_payload, signature_header
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Payment, TimeSlot
from ticketing.services.orders import OrderLine, order_place
from ticketing.services.payments import payment_start

SECRET_KEY = "sk_test_51FakeKeyForTheTestSuite"

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"

SUCCESS_URL = "http://testserver/order/tok/"

CANCEL_URL = "http://testserver/order/tok/pay/"


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
