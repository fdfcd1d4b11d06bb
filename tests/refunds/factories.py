"""Factories for refunds: paid orders with tickets, campaigns, refunds, transfer batches,
vouchers. They build on the ticket shop's factories (tests/ticketing/factories.py).

``RefundFactory`` makes an approved bank refund of a desk order paid in cash, with valid
Belgian bank details; override ``status``, ``method`` and the bank fields for the other
paths (``RefundFactory(bank_details=False)`` leaves them empty). ``PaidOrderFactory``
takes ``tickets=N`` to add N adult tickets of one slot.
"""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from refunds.models import Campaign, Choice, Refund, TransferBatch, Voucher
from tests.ticketing.factories import SiteFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Ticket

# Real, valid IBANs (the examples of the national banks and of the IBAN registry).
VALID_IBANS = {
    "BE": "BE68539007547034",
    "FR": "FR1420041010050500013M02606",
    "NL": "NL91ABNA0417164300",
    "FI": "FI2112345600000785",
    "SE": "SE4550000000058398257466",
    "DE": "DE89370400440532013000",
}


class PaidOrderFactory(factory.django.DjangoModelFactory):
    """A desk order paid in cash (the usual case of a bank refund); ``tickets=N`` adds N
    adult tickets of one new slot of the order's site, and sets the total."""

    class Meta:
        model = Order
        skip_postgeneration_save = True

    site = factory.SubFactory(SiteFactory)
    status = Order.Status.PAID
    channel = Order.Channel.DESK
    payment_method = Order.PaymentMethod.CASH
    email = factory.Sequence(lambda n: f"buyer{n}@example.org")
    name = "Ada Lovelace"
    language = "en"
    total_cents = 2800
    currency = "EUR"
    paid_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def tickets(obj, create, extracted, **kwargs):
        if not create or not extracted:
            return
        slot = TimeSlotFactory(exhibition__site=obj.site)
        adult = TicketTypeFactory(site=obj.site)
        for _ in range(extracted):
            Ticket.objects.create(
                order=obj,
                time_slot=slot,
                ticket_type=adult,
                price_cents=adult.price_cents,
                vat_rate=adult.vat_rate,
                status=Ticket.Status.VALID,
            )
        obj.total_cents = adult.price_cents * extracted
        obj.save(update_fields=["total_cents"])


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft closure of a whole site for one day, a week from today."""

    class Meta:
        model = Campaign

    scope = Campaign.Scope.SITE
    site = factory.SubFactory(SiteFactory)
    first_day = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=7))
    last_day = factory.SelfAttribute("first_day")
    reason = "a burst water pipe"
    default_choice = Choice.REFUND
    status = Campaign.Status.DRAFT


class RefundFactory(factory.django.DjangoModelFactory):
    """An approved bank refund of the whole of a paid desk order, with valid bank details."""

    class Meta:
        model = Refund
        exclude = ("bank_details",)

    bank_details = True
    order = factory.SubFactory(PaidOrderFactory, status=Order.Status.REFUND_PENDING)
    origin = Refund.Origin.REQUEST
    status = Refund.Status.APPROVED
    method = Refund.Method.BANK_TRANSFER
    choice = Choice.REFUND
    paid_cents = factory.SelfAttribute("order.total_cents")
    amount_cents = factory.SelfAttribute("paid_cents")
    currency = "EUR"
    approved_at = factory.LazyFunction(timezone.now)
    account_holder = factory.Maybe("bank_details", "Ada Lovelace", "")
    iban = factory.Maybe("bank_details", VALID_IBANS["BE"], "")
    bic = ""
    bank_details_at = factory.Maybe("bank_details", factory.LazyFunction(timezone.now), None)


class TransferBatchFactory(factory.django.DjangoModelFactory):
    """An exported batch with no refunds and a placeholder file; for the export itself use
    ``refunds.services.transfers.transfer_batch_export``."""

    class Meta:
        model = TransferBatch

    message_id = factory.Sequence(lambda n: f"TEST-BATCH-{n:06d}")
    status = TransferBatch.Status.EXPORTED
    count = 0
    total_cents = 0
    currency = "EUR"
    execution_date = factory.LazyFunction(timezone.localdate)
    xml = "<Document/>"


class VoucherFactory(factory.django.DjangoModelFactory):
    """A voucher worth 28 euros, unspent, valid a year."""

    class Meta:
        model = Voucher

    amount_cents = 2800
    balance_cents = factory.SelfAttribute("amount_cents")
    currency = "EUR"
    email = factory.Sequence(lambda n: f"holder{n}@example.org")
    language = "en"
    valid_until = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=365))
