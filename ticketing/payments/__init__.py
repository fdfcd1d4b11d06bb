"""Payment providers behind one interface: start a payment, handle a webhook, refund."""

from __future__ import annotations

from django.conf import settings

from ticketing.payments.base import PaymentProvider, ProviderEvent, StartedPayment


def get_provider(name: str | None = None) -> PaymentProvider:
    """The configured provider (or the one named, for refunds of older payments)."""
    name = name or settings.PAYMENT_PROVIDER
    if name == "stripe":
        from ticketing.payments.stripe import StripeProvider

        return StripeProvider()
    if name == "demo":
        from ticketing.payments.demo import DemoProvider

        return DemoProvider()
    raise ValueError(f"Unknown payment provider {name!r}")


__all__ = ["PaymentProvider", "ProviderEvent", "StartedPayment", "get_provider"]
