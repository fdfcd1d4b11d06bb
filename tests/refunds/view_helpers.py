"""Orders whose visit the museum cancels, for the buyer's refund pages and e-mails."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone

from museum.models import OutboxEmail
from refunds.models import Campaign, Choice, Refund
from refunds.services.campaigns import campaign_start
from tests.refunds.core_helpers import visit_slot
from tests.ticketing.factories import TicketTypeFactory
from ticketing.models import Exhibition, Order, TicketType, TimeSlot
from ticketing.payments.demo import DemoProvider
from ticketing.services.orders import OrderLine, order_place
from ticketing.services.payments import payment_event_handle, payment_start

VALID_IBAN = "BE68539007547034"
# The same IBAN with its check digits wrong: a typo the checksum catches.
WRONG_IBAN = "BE68539007547035"


def adult_type(slot: TimeSlot) -> TicketType:
    found = TicketType.objects.filter(site=slot.site, kind=TicketType.Kind.ADULT).first()
    return found or TicketTypeFactory(site=slot.site, price_cents=1400)


def cash_order(
    *, slot: TimeSlot, quantity: int = 1, language: str = "en", email: str = "cash@example.org"
) -> Order:
    """A front-desk sale paid in cash: its refund is a bank transfer."""
    return order_place(
        lines=[OrderLine(slot.pk, adult_type(slot).pk, quantity)],
        channel=Order.Channel.DESK,
        email=email,
        name="Grace Desk",
        language=language,
        payment_method=Order.PaymentMethod.CASH,
    )


def demo_order(*, slot: TimeSlot, quantity: int = 2, language: str = "en") -> Order:
    """A web order paid through the demo provider: its refund goes back "to the card"."""
    order = order_place(
        lines=[OrderLine(slot.pk, adult_type(slot).pk, quantity)],
        channel=Order.Channel.WEB,
        email="web@example.org",
        name="Ada Web",
        language=language,
    )
    payment = payment_start(
        order=order, success_url="http://testserver/ok", cancel_url="http://testserver/no"
    )
    provider = DemoProvider()
    event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
    payment_event_handle(provider_name="demo", event=event)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    return order


def cancel_slot(slot: TimeSlot, run_tasks, *, default_choice: str = Choice.REFUND) -> Campaign:
    """The museum cancels one time slot; the campaign runs at once (tasks eager)."""
    day = timezone.localtime(slot.starts_at).date()
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SLOT,
        site=slot.site,
        exhibition=slot.exhibition,
        time_slot=slot,
        first_day=day,
        last_day=day,
        reason="a burst water pipe",
        default_choice=default_choice,
    )
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    return campaign


def offered_refund(order: Order) -> Refund:
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.OFFERED
    return refund


def later_slot(slot: TimeSlot, *, days: int = 1, hour: int = 14, capacity: int = 20) -> TimeSlot:
    """Another slot of the same exhibition, ``days`` after ``slot``."""
    exhibition: Exhibition = slot.exhibition
    ahead = (timezone.localtime(slot.starts_at).date() - timezone.localdate()).days + days
    return visit_slot(exhibition=exhibition, hour=hour, days_ahead=ahead, capacity=capacity)


def link_in(email: OutboxEmail) -> str:
    """The refund page's path in an e-mail's text."""
    match = re.search(r"https?://[^\s]+(/refunds/refund/[^\s/]+/)", email.body_text)
    assert match, email.body_text
    return match.group(1)


def soon(hours: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(hours=hours)
