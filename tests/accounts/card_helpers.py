"""Shared helpers of the museum card service tests."""

from __future__ import annotations

import datetime as dt

from accounts.models import MuseumCard
from accounts.services.cards import (
    card_order_place,
)
from ticketing.models import Order

D = dt.date


def _renew(card: MuseumCard, *, now: dt.datetime) -> Order:
    """A renewal sold at the desk (paid at once) at ``now``."""
    return card_order_place(
        product=card.product,
        holder_name=card.holder_name,
        holder_email=card.holder_email,
        language="en",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        renew_card=card,
        now=now,
    )


def _state(card: MuseumCard) -> tuple:
    card.refresh_from_db()
    return (card.status, card.valid_from, card.valid_until, card.months_pending)
