"""Stripe Checkout: a hosted payment page per order, confirmed by signed webhooks.

Every call goes through ``_client()``, a ``stripe.StripeClient`` on the configured secret
key. The HTTP client under it is ``http_client_override`` when set (the tests put a fake
Stripe there, so the library's own request building and response parsing still run) and
the library's default otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

import stripe
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ticketing.errors import PaymentError
from ticketing.models import Order, Payment, Ticket
from ticketing.payments.base import InvalidWebhook, ProviderEvent, StartedPayment

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

logger = logging.getLogger(__name__)

# Replaced by the tests with a fake at the HTTP boundary; None means the library's default.
http_client_override: stripe.HTTPClient | None = None

# Stripe refuses an expiry less than 30 minutes after the session is created (measured on
# its own clock); one minute of margin keeps a slow request or a skewed clock from failing.
SESSION_LIFETIME = dt.timedelta(minutes=31)

# Checkout locales our languages map to (Stripe supports many more; "auto" = browser's).
CHECKOUT_LOCALES = frozenset(
    {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fil", "fr", "hr", "hu", "id"}
    | {"it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "ro", "ru", "sk"}
    | {"sl", "sv", "th", "tr", "vi", "zh"}
)

SIGNATURE_HEADER = "stripe-signature"


def _client() -> stripe.StripeClient:
    """A Stripe client on the configured key; retries are safe since POSTs carry a key."""
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        http_client=http_client_override,
        max_network_retries=2,
    )


def checkout_locale(language: str) -> str:
    """The Checkout locale for an order's language, or "auto" when Stripe has none."""
    language = (language or "").lower()
    if language in CHECKOUT_LOCALES:
        return language
    base = language.split("-")[0]
    return base if base in CHECKOUT_LOCALES else "auto"


def _line_items(order: Order) -> list[dict[str, Any]]:
    """One Checkout line per ticket type, price and slot, named in the buyer's language.

    Free tickets are left out (Checkout shows what is paid; our e-mail lists everything).
    Falls back to one line with the amount due if the tickets do not add up to the total,
    and is one line "Order XXXX (voucher applied)" for the amount due when vouchers pay
    part of it.
    """
    tickets = order.tickets.select_related("ticket_type", "time_slot__exhibition").order_by("pk")
    groups: OrderedDict[tuple[int, int, int], dict[str, Any]] = OrderedDict()
    with translation.override(order.language):
        for ticket in tickets:
            if ticket.status == Ticket.Status.CANCELLED or ticket.price_cents == 0:
                continue
            key = (ticket.ticket_type_id, ticket.price_cents, ticket.time_slot_id)
            if key not in groups:
                starts_at = timezone.localtime(ticket.time_slot.starts_at)
                groups[key] = {
                    "quantity": 0,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": ticket.price_cents,
                        "product_data": {
                            "name": f"{ticket.ticket_type.name} · "
                            f"{ticket.time_slot.exhibition.name}",
                            "description": _("Entry on %(date)s at %(time)s")
                            % {
                                "date": starts_at.strftime("%Y-%m-%d"),
                                "time": starts_at.strftime("%H:%M"),
                            },
                        },
                    },
                }
            groups[key]["quantity"] += 1
        items = list(groups.values())
        total = sum(i["quantity"] * i["price_data"]["unit_amount"] for i in items)
        if order.voucher_cents > 0 or total != order.total_cents:
            if order.voucher_cents > 0:
                name = _("Order %(code)s (voucher applied)") % {"code": order.code}
            else:
                logger.warning("order %s: tickets do not add up to the total", order.code)
                name = _("Order %(code)s") % {"code": order.code}
            items = [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.due_cents,
                        "product_data": {"name": name},
                    },
                }
            ]
    return items


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, int):
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.UTC)


class StripeProvider:
    """Stripe Checkout Sessions, webhooks verified with the endpoint's signing secret."""

    name = "stripe"

    def start(
        self, *, order: Order, success_url: str, cancel_url: str, idempotency_key: str
    ) -> StartedPayment:
        """Create a Checkout Session for what the order has due, in its currency and language.

        Side effects: one POST to Stripe (idempotent under ``idempotency_key``).
        Raises: PaymentError when Stripe refuses or cannot be reached.
        """
        metadata = {"order_code": order.code}
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": _line_items(order),
            "client_reference_id": order.code,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "locale": checkout_locale(order.language),
            "expires_at": int((timezone.now() + SESSION_LIFETIME).timestamp()),
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        if order.email:
            params["customer_email"] = order.email
        try:
            session = _client().v1.checkout.sessions.create(
                params=cast("SessionCreateParams", params),
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            logger.warning("stripe refused a checkout session for %s: %s", order.code, exc)
            raise PaymentError() from exc
        if not session.url:
            raise PaymentError()
        return StartedPayment(
            reference=session.id,
            redirect_url=session.url,
            payment_intent=_id(session.payment_intent),
        )

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> ProviderEvent:
        """Verify the Stripe-Signature header and reduce the event to what the shop acts on.

        No side effects, no network. Raises: InvalidWebhook.
        """
        try:
            event = stripe.Webhook.construct_event(
                payload, _header(headers, SIGNATURE_HEADER), settings.STRIPE_WEBHOOK_SECRET
            )
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidWebhook(str(exc)) from exc
        body: dict[str, Any] = event.to_dict()
        raw_type = str(body.get("type", ""))
        obj: dict[str, Any] = (body.get("data") or {}).get("object") or {}
        base = ProviderEvent(
            event_id=str(body.get("id", "")),
            event_type="ignored",
            raw_type=raw_type,
            created=_timestamp(body.get("created")),
        )
        if raw_type.startswith("checkout.session."):
            paid = raw_type == "checkout.session.async_payment_succeeded" or (
                raw_type == "checkout.session.completed" and obj.get("payment_status") == "paid"
            )
            if paid:
                kind = "payment.succeeded"
            elif raw_type in ("checkout.session.expired", "checkout.session.async_payment_failed"):
                kind = "payment.failed"
            else:
                # A completed session whose payment is still pending (e.g. a bank debit):
                # async_payment_succeeded or async_payment_failed follows.
                kind = "ignored"
            return replace(
                base,
                event_type=kind,
                reference=str(obj.get("id") or ""),
                amount_cents=int(obj.get("amount_total") or 0),
                currency=str(obj.get("currency") or ""),
                payment_intent=_id(obj.get("payment_intent")),
                extra={
                    "order_code": (obj.get("metadata") or {}).get("order_code", ""),
                    "payment_status": obj.get("payment_status", ""),
                },
            )
        if raw_type in ("refund.created", "refund.updated", "refund.failed"):
            # A refund's own life (the refunds app asked for it): pending, then succeeded,
            # failed or canceled.
            metadata = obj.get("metadata") or {}
            return replace(
                base,
                event_type="refund.updated",
                payment_intent=_id(obj.get("payment_intent")),
                amount_cents=int(obj.get("amount") or 0),
                currency=str(obj.get("currency") or ""),
                extra={
                    "refund": str(obj.get("id") or ""),
                    "status": str(obj.get("status") or ""),
                    "failure_reason": str(obj.get("failure_reason") or ""),
                    "refund_public_id": str(metadata.get("refund") or ""),
                },
            )
        if raw_type == "charge.refunded":
            # Only a full refund ends the payment; a partial one is the refunds app's business.
            return replace(
                base,
                event_type="refund.succeeded" if obj.get("refunded") else "ignored",
                payment_intent=_id(obj.get("payment_intent")),
                amount_cents=int(obj.get("amount_refunded") or 0),
                currency=str(obj.get("currency") or ""),
                extra={"charge": obj.get("id", ""), "refunded": bool(obj.get("refunded"))},
            )
        return base

    def refund(
        self,
        *,
        payment: Payment,
        amount_cents: int,
        idempotency_key: str,
        metadata: dict[str, str] | None = None,
    ) -> str:
        """Refund ``amount_cents`` of the payment's PaymentIntent; returns the refund id.

        Looks the PaymentIntent up on the Checkout Session when the payment does not know
        it yet. Side effects: a Stripe refund (once per ``idempotency_key``).
        Raises: PaymentError when Stripe refuses or cannot be reached.
        """
        client = _client()
        try:
            payment_intent = payment.payment_intent
            if not payment_intent:
                session = client.v1.checkout.sessions.retrieve(payment.reference)
                payment_intent = _id(session.payment_intent)
            if not payment_intent:
                raise PaymentError(
                    _("Stripe has no payment to refund for %(ref)s.") % {"ref": payment.reference}
                )
            refund = client.v1.refunds.create(
                params={
                    "payment_intent": payment_intent,
                    "amount": amount_cents,
                    "metadata": {
                        "order_code": payment.order.code,
                        "checkout_session": payment.reference,
                        **(metadata or {}),
                    },
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            logger.warning("stripe refused a refund of %s: %s", payment.reference, exc)
            raise PaymentError(
                _("The refund could not be requested from Stripe: %(error)s")
                % {"error": exc.user_message or exc.__class__.__name__}
            ) from exc
        return refund.id


def _id(value: Any) -> str:
    """The id of an expandable field, whether Stripe sent the id or the object."""
    if not value:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(getattr(value, "id", "") or "")
