"""Factories and helpers for the museum card tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import CardProduct, MuseumCard
from accounts.services.cards import card_order_place
from ticketing.models import Order


class CardProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CardProduct

    name = "Museum card"
    price_cents = 6900
    vat_rate = Decimal("6.00")
    validity_months = 12


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    """An aware datetime in the museum's time zone."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def desk_card(
    *,
    product: CardProduct | None = None,
    name: str = "Aino Aalto",
    email: str = "aino@example.org",
    now: dt.datetime | None = None,
) -> MuseumCard:
    """A card sold and paid at the desk: NOT_ACTIVATED with 12 months pending."""
    order = card_order_place(
        product=product or CardProductFactory(),
        holder_name=name,
        holder_email=email,
        language="en",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        now=now,
    )
    return order.card_purchases.get().card
