"""The interface every payment provider implements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ticketing.models import Order, Payment


@dataclass(frozen=True)
class StartedPayment:
    """What a provider returns when a payment starts: its reference and where to go."""

    reference: str
    redirect_url: str
    payment_intent: str = ""


@dataclass(frozen=True)
class ProviderEvent:
    """A verified provider event, reduced to what the shop acts on."""

    event_id: str
    event_type: str  # "payment.succeeded", "payment.failed", "refund.succeeded", "ignored"
    reference: str = ""  # the Payment.reference it is about
    amount_cents: int = 0
    currency: str = ""
    payment_intent: str = ""
    created: dt.datetime | None = None
    raw_type: str = ""
    extra: dict = field(default_factory=dict)


class PaymentProvider(Protocol):
    name: str

    def start(
        self, *, order: Order, success_url: str, cancel_url: str, idempotency_key: str
    ) -> StartedPayment:
        """Create the payment at the provider. Raises PaymentError."""

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify the signature and decode the event. Raises InvalidWebhook."""

    def refund(
        self,
        *,
        payment: Payment,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Ask the provider to refund; returns the refund's reference. Raises PaymentError."""


# Called with (provider_name, event) for every verified "refund.updated" event, inside
# the webhook's transaction; each returns True if it knew the refund. The refunds app
# registers itself here, so ticketing does not import it.
RefundListener = Callable[[str, "ProviderEvent"], bool]
refund_listeners: list[RefundListener] = []


class InvalidWebhook(Exception):
    """The webhook's signature or payload is not acceptable."""
