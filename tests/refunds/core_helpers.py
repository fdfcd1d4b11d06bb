"""Orders of every channel on a visit slot, for the campaign and refund-life tests."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import CardProduct, MuseumCard
from tests.ticketing.factories import ResellerFactory, TicketTypeFactory, TimeSlotFactory
from tests.ticketing.stripe_helpers import _deliver, _held_order, _start
from ticketing.models import Exhibition, Order, TicketType, TimeSlot
from ticketing.services.orders import OrderLine, order_place


def visit_slot(
    *, exhibition: Exhibition | None = None, hour: int = 10, days_ahead: int = 7, capacity=20
) -> TimeSlot:
    """A slot a week ahead (past any request cut-off) at ``hour``."""
    day = timezone.localdate() + dt.timedelta(days=days_ahead)
    starts = dt.datetime.combine(day, dt.time(hour), tzinfo=timezone.get_current_timezone())
    extra = {"exhibition": exhibition} if exhibition is not None else {}
    return TimeSlotFactory(
        starts_at=starts, ends_at=starts + dt.timedelta(minutes=30), capacity=capacity, **extra
    )


def _adult(slot: TimeSlot) -> TicketType:
    found = TicketType.objects.filter(site=slot.site, kind=TicketType.Kind.ADULT).first()
    return found or TicketTypeFactory(site=slot.site, price_cents=1400)


def paid_stripe_order(client, fake_stripe, *, slot: TimeSlot, quantity: int = 2) -> Order:
    """A web order paid through (fake) Stripe Checkout and confirmed by its webhook."""
    _adult(slot)
    order = _held_order(slot=slot, quantity=quantity, email=f"card{quantity}@example.org")
    payment = _start(order)
    session = fake_stripe.pay(payment.reference)
    _deliver(client, "checkout.session.completed", session)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def desk_order(*, slot: TimeSlot, quantity: int = 1, email: str = "cash@example.org") -> Order:
    """A front-desk sale paid in cash."""
    adult = _adult(slot)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.DESK,
        email=email,
        name="Grace Desk",
        payment_method=Order.PaymentMethod.CASH,
    )


def reseller_order(*, slot: TimeSlot, quantity: int = 1) -> Order:
    adult = _adult(slot)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.RESELLER,
        reseller=ResellerFactory(),
        reseller_reference="R-42",
        payment_method=Order.PaymentMethod.INVOICE,
    )


def card_valid(*, valid_from: dt.date, valid_until: dt.date) -> MuseumCard:
    product = CardProduct.objects.first() or CardProduct.objects.create(
        name="Museum card", price_cents=6000
    )
    return MuseumCard.objects.create(
        product=product,
        status=MuseumCard.Status.ACTIVE,
        holder_name="Card Holder",
        valid_from=valid_from,
        valid_until=valid_until,
    )
