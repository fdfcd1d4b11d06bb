"""Cancellation campaigns over real orders: Stripe, cash at the desk and a reseller."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import MuseumCard
from museum.models import AuditEvent, Closure, OutboxEmail
from refunds.errors import CampaignError
from refunds.models import Campaign, CampaignOrder, CardExtension, Refund, ResellerNotice
from refunds.services.campaigns import (
    campaign_preview,
    campaign_progress,
    campaign_retry_failed,
    campaign_start,
)
from tests.refunds.core_helpers import (
    card_valid,
    desk_order,
    paid_stripe_order,
    reseller_order,
    visit_slot,
)
from tests.ticketing.stripe_helpers import _deliver
from ticketing.models import Order, Ticket, TimeSlot

pytestmark = pytest.mark.django_db


def _closure(slot: TimeSlot, **kwargs) -> Campaign:
    day = timezone.localtime(slot.starts_at).date()
    return Campaign.objects.create(
        scope=Campaign.Scope.SITE,
        site=slot.site,
        first_day=day,
        last_day=day + dt.timedelta(days=kwargs.pop("days", 1) - 1),
        reason="a burst water pipe",
        **kwargs,
    )


def test_preview_counts_what_the_run_then_does(fake_stripe, client, run_tasks):
    # given a slot with a Stripe order (2 x 14 €), a cash order (1 x 14 €), a reseller order
    slot = visit_slot()
    stripe_order = paid_stripe_order(client, fake_stripe, slot=slot, quantity=2)
    cash_order = desk_order(slot=slot, quantity=1, email="")
    resold = reseller_order(slot=slot, quantity=3)
    campaign = _closure(slot)
    # when the manager previews the closure
    preview = campaign_preview(campaign=campaign)
    # then it counts each order, channel and method, and changes nothing
    assert (preview.orders, preview.tickets, preview.seats) == (3, 6, 6)
    assert preview.amount_cents == 6 * 1400
    assert preview.by_channel == {
        "web": {"orders": 1, "amount_cents": 2800},
        "desk": {"orders": 1, "amount_cents": 1400},
        "reseller": {"orders": 1, "amount_cents": 4200},
    }
    assert preview.by_method == {
        "stripe": {"orders": 1, "amount_cents": 2800},
        "bank": {"orders": 1, "amount_cents": 1400},
        "reseller": {"orders": 1, "amount_cents": 4200},
    }
    assert (preview.emails, preview.without_email) == (1, 1)  # resellers are told apart
    assert not Refund.objects.exists()
    assert not Ticket.objects.filter(status=Ticket.Status.CANCELLED).exists()
    slot.refresh_from_db()
    assert slot.is_cancelled is False
    # when it runs (tasks eager), each order takes its own path
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    refunds = {r.order_id: r for r in Refund.objects.all()}
    assert refunds[stripe_order.pk].method == Refund.Method.STRIPE
    assert refunds[stripe_order.pk].status == Refund.Status.OFFERED
    assert refunds[cash_order.pk].method == Refund.Method.BANK_TRANSFER
    assert refunds[cash_order.pk].status == Refund.Status.OFFERED
    assert refunds[resold.pk].method == Refund.Method.RESELLER
    assert refunds[resold.pk].status == Refund.Status.SUCCEEDED
    assert sum(r.paid_cents for r in refunds.values()) == preview.amount_cents
    # and the visit is off: slot cancelled, closure in place, every ticket void
    slot.refresh_from_db()
    assert slot.is_cancelled is True
    assert Closure.objects.filter(site=slot.site, reason="a burst water pipe").count() == 1
    assert set(Ticket.objects.values_list("status", flat=True)) == {Ticket.Status.CANCELLED}
    # and the buyers with an address got the offer; the reseller was told
    offers = OutboxEmail.objects.filter(dedupe_key__startswith="refunds.offer:")
    assert sorted(offers.values_list("to", flat=True)) == [stripe_order.email]
    (notice,) = ResellerNotice.objects.all()
    assert notice.order_id == resold.pk
    assert notice.payload["order"]["code"] == resold.code
    resold.refresh_from_db()
    assert resold.status == Order.Status.REFUNDED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert campaign_progress(campaign) == {"total": 3, "done": 3, "failed": 0, "pending": 0}


def test_a_stripe_failure_leaves_that_order_retryable_and_nobody_is_paid_twice(
    fake_stripe, client, run_tasks
):
    # given two Stripe orders and a cash order on a slot the museum cancels
    slot = visit_slot()
    first = paid_stripe_order(client, fake_stripe, slot=slot, quantity=1)
    second = paid_stripe_order(client, fake_stripe, slot=slot, quantity=2)
    cash = desk_order(slot=slot, quantity=1)
    campaign = _closure(slot)
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    refunds = {r.order_id: r for r in Refund.objects.all()}
    # when both card buyers choose a refund, and Stripe refuses the first one
    from refunds.services.refunds import refund_choose

    fake_stripe.fail_next(status=402, type="card_error", message="This card is closed.")
    with run_tasks():
        refund_choose(refund=refunds[first.pk], choice="refund")
    with run_tasks():
        refund_choose(refund=refunds[second.pk], choice="refund")
    # then the first failed with Stripe's reason, the second was sent with its own key
    a = Refund.objects.get(pk=refunds[first.pk].pk)
    b = Refund.objects.get(pk=refunds[second.pk].pk)
    assert a.status == Refund.Status.FAILED
    assert a.failure == "The refund could not be requested from Stripe: This card is closed."
    assert b.status == Refund.Status.SENT
    (sent,) = [c for c in fake_stripe.calls("POST", "/v1/refunds") if c.status == 200]
    assert sent.params["amount"] == "2800"
    assert sent.header("Idempotency-Key") == f"refund-{b.public_id}-1"
    # and the cash buyer's offer is untouched by either
    assert Refund.objects.get(order=cash).status == Refund.Status.OFFERED
    # when Stripe confirms the second by webhook, twice
    stripe_refund = fake_stripe.refunds[b.provider_reference]
    for _ in range(2):
        _deliver(client, "refund.updated", stripe_refund)
    b.refresh_from_db()
    assert b.status == Refund.Status.SUCCEEDED
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.paid:{b.pk}").count() == 1
    # when staff retry the failed one, it goes out with a new attempt key
    from refunds.services.refunds import refund_retry

    with run_tasks():
        refund_retry(refund=a, actor=None)
    a.refresh_from_db()
    assert a.status == Refund.Status.SENT
    assert a.attempt == 2
    keys = [c.header("Idempotency-Key") for c in fake_stripe.calls("POST", "/v1/refunds")]
    assert keys.count(f"refund-{a.public_id}-2") == 1
    # and running the campaign again, and sending again, pays nobody twice
    with pytest.raises(CampaignError):
        campaign_start(campaign=campaign, actor=None)
    from refunds.services.refunds import refund_send

    refund_send(refund_id=b.pk)
    refund_send(refund_id=a.pk)
    paid = [c for c in fake_stripe.calls("POST", "/v1/refunds") if c.status == 200]
    assert sorted(c.params["amount"] for c in paid) == ["1400", "2800"]
    assert Refund.objects.filter(campaign=campaign).count() == 3


def test_a_failing_order_is_marked_and_retried_alone(monkeypatch, run_tasks):
    # given three cash orders on a cancelled slot, one of which the processing chokes on
    slot = visit_slot()
    orders = [desk_order(slot=slot, quantity=1) for _ in range(3)]
    from refunds.services import campaigns

    real = campaigns._process_order
    broken = orders[1].pk

    def flaky(campaign, *, order_id, slot_ids, now):
        if order_id == broken:
            raise RuntimeError("database hiccup")
        return real(campaign, order_id=order_id, slot_ids=slot_ids, now=now)

    def bulk_breaks(*args, **kwargs):
        raise RuntimeError("chunk statement failed")

    # the chunk's set-based path fails as a whole, then one order fails on its own
    monkeypatch.setattr(campaigns, "_offer_in_bulk", bulk_breaks)
    monkeypatch.setattr(campaigns, "_process_order", flaky)
    campaign = _closure(slot)
    # when the campaign runs
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    # then the others are done and that one failed with its error, nothing half-written
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    failed = CampaignOrder.objects.get(status=CampaignOrder.Status.FAILED)
    assert failed.order_id == broken
    assert failed.error == "RuntimeError: database hiccup"
    assert set(Refund.objects.values_list("order_id", flat=True)) == {
        orders[0].pk,
        orders[2].pk,
    }
    assert Ticket.objects.get(order_id=broken).status == Ticket.Status.VALID
    # when the manager retries once the cause is gone
    monkeypatch.setattr(campaigns, "_process_order", real)
    with run_tasks():
        assert campaign_retry_failed(campaign=campaign, actor=None) == 1
    # then it is done, with one refund per order
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert Refund.objects.filter(campaign=campaign).count() == 3
    assert campaign_progress(campaign)["failed"] == 0
    assert AuditEvent.objects.filter(action="campaign.retried").count() == 1


def test_a_closure_extends_active_museum_cards_by_the_closed_days_once(run_tasks):
    # given a card valid through a three-day closure, and one that ended before it
    slot = visit_slot()
    day = timezone.localtime(slot.starts_at).date()
    card = card_valid(
        valid_from=day - dt.timedelta(days=100), valid_until=day + dt.timedelta(days=30)
    )
    old = card_valid(
        valid_from=day - dt.timedelta(days=400), valid_until=day - dt.timedelta(days=35)
    )
    ends_mid = card_valid(
        valid_from=day - dt.timedelta(days=300), valid_until=day + dt.timedelta(days=1)
    )
    campaign = _closure(slot, days=3)
    # when the closure runs
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    # then the first card gains three days, the one ending mid-closure two, the old none
    card.refresh_from_db()
    ends_mid.refresh_from_db()
    old.refresh_from_db()
    assert card.valid_until == day + dt.timedelta(days=33)
    assert ends_mid.valid_until == day + dt.timedelta(days=3)
    assert old.valid_until == day - dt.timedelta(days=35)
    assert CardExtension.objects.count() == 2
    campaign.refresh_from_db()
    assert campaign.cards_extended == 2
    # and retrying the campaign does not extend them again
    with run_tasks():
        campaign_retry_failed(campaign=campaign, actor=None)
    card.refresh_from_db()
    assert card.valid_until == day + dt.timedelta(days=33)
    assert MuseumCard.objects.filter(closure_extensions__isnull=False).count() == 2


def test_a_slot_campaign_leaves_other_slots_and_used_tickets_alone(run_tasks):
    # given two slots of the same day, and a ticket already scanned in the cancelled one
    slot = visit_slot()
    other = visit_slot(exhibition=slot.exhibition, hour=14)
    cancelled_order = desk_order(slot=slot, quantity=2)
    used = cancelled_order.tickets.first()
    Ticket.objects.filter(pk=used.pk).update(checked_in_at=timezone.now())
    kept_order = desk_order(slot=other, quantity=1)
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SLOT,
        site=slot.site,
        time_slot=slot,
        first_day=timezone.localtime(slot.starts_at).date(),
        last_day=timezone.localtime(slot.starts_at).date(),
        reason="the lift is broken",
    )
    # when it runs
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    # then only the unused ticket of that slot is offered a refund
    (refund,) = Refund.objects.all()
    assert refund.order_id == cancelled_order.pk
    assert list(refund.tickets.values_list("pk", flat=True)) != [used.pk]
    assert refund.paid_cents == 1400
    assert Ticket.objects.get(pk=used.pk).status == Ticket.Status.VALID
    assert set(kept_order.tickets.values_list("status", flat=True)) == {Ticket.Status.VALID}
    other.refresh_from_db()
    assert other.is_cancelled is False
    assert not Closure.objects.exists()


def test_a_campaign_with_no_slot_in_its_dates_is_refused_and_changes_nothing():
    slot = visit_slot()
    far = timezone.localtime(slot.starts_at).date() + dt.timedelta(days=40)
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.DAY,
        site=slot.site,
        exhibition=slot.exhibition,
        first_day=far,
        last_day=far,
        reason="x",
    )
    with pytest.raises(CampaignError):
        campaign_start(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not CampaignOrder.objects.exists()
