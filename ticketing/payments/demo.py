"""The demo provider: a page of our own with a "pay" button. No money moves."""

from __future__ import annotations

import json
import secrets

from django.core import signing
from django.urls import reverse

from ticketing.models import Order, Payment
from ticketing.payments.base import InvalidWebhook, ProviderEvent, StartedPayment

SALT = "ticketing.demo-payment"


class DemoProvider:
    name = "demo"

    def start(
        self, *, order: Order, success_url: str, cancel_url: str, idempotency_key: str
    ) -> StartedPayment:
        reference = "demo_" + secrets.token_urlsafe(16)
        url = reverse("ticketing:demo_pay", kwargs={"reference": reference})
        return StartedPayment(reference=reference, redirect_url=url)

    def event_for(self, payment: Payment) -> bytes:
        """The signed event the demo page posts back, as Stripe would post a webhook."""
        body = {
            "id": "demo_evt_" + secrets.token_urlsafe(12),
            "type": "payment.succeeded",
            "reference": payment.reference,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
        }
        return signing.dumps(body, salt=SALT).encode()

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        try:
            body = signing.loads(payload.decode(), salt=SALT, max_age=3600)
        except (signing.BadSignature, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidWebhook(str(exc)) from exc
        return ProviderEvent(
            event_id=body["id"],
            event_type=body["type"],
            reference=body["reference"],
            amount_cents=int(body["amount_cents"]),
            currency=body["currency"],
        )

    def refund(
        self,
        *,
        payment: Payment,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        return "demo_re_" + secrets.token_urlsafe(12)
