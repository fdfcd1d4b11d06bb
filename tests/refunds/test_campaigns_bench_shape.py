"""A closure over the mix bench/closure.py builds at scale (card via Stripe and the demo
provider with their Payment rows, desk cash, a reseller's invoice), at test size: each
order gets its path, e-mails in the buyer's language, seats back, nobody twice."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from museum.models import OutboxEmail
from refunds.models import Campaign, CampaignOrder, Refund, ResellerNotice
from refunds.services.campaigns import campaign_process, campaign_start
from tests.refunds.factories import CampaignFactory, PaidOrderFactory
from tests.ticketing.factories import ResellerFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Payment, Ticket


def _order(slot, ticket_type, *, channel, method, language="en", reseller=None, tickets=2):
    order = PaidOrderFactory(
        site=slot.site,
        channel=channel,
        payment_method=method,
        language=language,
        reseller=reseller,
        total_cents=ticket_type.price_cents * tickets,
    )
    for _ in range(tickets):
        Ticket.objects.create(
            order=order,
            time_slot=slot,
            ticket_type=ticket_type,
            price_cents=ticket_type.price_cents,
            vat_rate=ticket_type.vat_rate,
            status=Ticket.Status.VALID,
        )
    if method in (Order.PaymentMethod.STRIPE, Order.PaymentMethod.DEMO):
        Payment.objects.create(
            order=order,
            provider=method,
            reference=f"bench-shape-{order.code}",
            payment_intent=f"pi_{order.code}",
            amount_cents=order.total_cents,
            currency="EUR",
            status=Payment.Status.SUCCEEDED,
        )
    return order


def _run(campaign, django_capture_on_commit_callbacks) -> int:
    chunks = 0
    with django_capture_on_commit_callbacks(execute=False):
        while campaign_process(campaign_id=campaign.pk, chunk=2):
            chunks += 1
    return chunks + 1


def test_closure_over_the_bench_mix(db, django_capture_on_commit_callbacks):
    # Given a site's slot with orders of each kind the bench builds, and one on another day
    day = timezone.localdate() + dt.timedelta(days=30)
    starts = dt.datetime.combine(day, dt.time(10), tzinfo=timezone.get_current_timezone())
    slot = TimeSlotFactory(starts_at=starts, capacity=50)
    adult = TicketTypeFactory(site=slot.site)
    later = TimeSlotFactory(exhibition=slot.exhibition, starts_at=starts + dt.timedelta(days=2))
    reseller = ResellerFactory()
    stripe = _order(slot, adult, channel=Order.Channel.WEB, method=Order.PaymentMethod.STRIPE)
    demo = _order(
        slot, adult, channel=Order.Channel.WEB, method=Order.PaymentMethod.DEMO, language="fr"
    )
    cash = _order(
        slot, adult, channel=Order.Channel.DESK, method=Order.PaymentMethod.CASH, language="nl"
    )
    resold = _order(
        slot,
        adult,
        channel=Order.Channel.RESELLER,
        method=Order.PaymentMethod.INVOICE,
        reseller=reseller,
    )
    untouched = _order(later, adult, channel=Order.Channel.DESK, method=Order.PaymentMethod.CASH)
    campaign = CampaignFactory(site=slot.site, first_day=day, last_day=day)

    # When the closure is started and processed in chunks of two
    with django_capture_on_commit_callbacks(execute=False):
        campaign_start(campaign=campaign, actor=None)
    assert _run(campaign, django_capture_on_commit_callbacks) == 2

    # Then each order got its path
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    methods = dict(Refund.objects.filter(campaign=campaign).values_list("order_id", "method"))
    assert methods == {
        stripe.pk: Refund.Method.STRIPE,
        demo.pk: Refund.Method.DEMO,
        cash.pk: Refund.Method.BANK_TRANSFER,
        resold.pk: Refund.Method.RESELLER,
    }
    assert Refund.objects.get(order=stripe).payment.provider == "stripe"
    # And the seats came back: no ticket of the closed day admits any more
    assert not Ticket.objects.filter(time_slot=slot, status=Ticket.Status.VALID).exists()
    assert Ticket.objects.filter(order=untouched, status=Ticket.Status.VALID).count() == 2
    # And the buyers got an offer in their language; the reseller's customer none, the
    # reseller a notice
    offers = OutboxEmail.objects.filter(dedupe_key__startswith="refunds.offer:")
    assert sorted(offers.values_list("to", "language")) == sorted(
        [(stripe.email, "en"), (demo.email, "fr"), (cash.email, "nl")]
    )
    assert list(ResellerNotice.objects.values_list("order_id", flat=True)) == [resold.pk]
    assert not Refund.objects.filter(order=untouched).exists()


def test_closure_processed_again_pays_nobody_twice(db, django_capture_on_commit_callbacks):
    day = timezone.localdate() + dt.timedelta(days=30)
    starts = dt.datetime.combine(day, dt.time(10), tzinfo=timezone.get_current_timezone())
    slot = TimeSlotFactory(starts_at=starts, capacity=50)
    adult = TicketTypeFactory(site=slot.site)
    orders = [
        _order(slot, adult, channel=Order.Channel.WEB, method=Order.PaymentMethod.STRIPE),
        _order(slot, adult, channel=Order.Channel.DESK, method=Order.PaymentMethod.CASH),
        _order(
            slot,
            adult,
            channel=Order.Channel.RESELLER,
            method=Order.PaymentMethod.INVOICE,
            reseller=ResellerFactory(),
        ),
    ]
    campaign = CampaignFactory(site=slot.site, first_day=day, last_day=day)
    with django_capture_on_commit_callbacks(execute=False):
        campaign_start(campaign=campaign, actor=None)
    _run(campaign, django_capture_on_commit_callbacks)
    emails = OutboxEmail.objects.count()

    # When every order is put back in the queue and the campaign runs again
    CampaignOrder.objects.filter(campaign=campaign).update(status=CampaignOrder.Status.PENDING)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)
    _run(campaign, django_capture_on_commit_callbacks)

    # Then still one refund per order, no new e-mail, no new notice
    assert sorted(
        Refund.objects.filter(campaign=campaign).values_list("order_id", flat=True)
    ) == sorted(o.pk for o in orders)
    assert OutboxEmail.objects.count() == emails
    assert ResellerNotice.objects.count() == 1
