"""A refund's life: requests and decisions, the buyer's choice, defaults, money once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from museum.models import AuditEvent, OutboxEmail
from refunds.errors import RefundError
from refunds.models import Campaign, Refund, Voucher
from refunds.services.campaigns import campaign_start
from refunds.services.refunds import (
    rebook_slots,
    refund_approve,
    refund_bank_details_set,
    refund_choose,
    refund_paid_at_desk,
    refund_refuse,
    refund_request,
    refunds_apply_defaults,
)
from tests.refunds.core_helpers import desk_order, visit_slot
from ticketing.models import Order, Ticket
from ticketing.selectors import seats_taken

pytestmark = pytest.mark.django_db


def _offer(run_tasks, *, quantity=2, default="refund", email="cash@example.org"):
    slot = visit_slot()
    order = desk_order(slot=slot, quantity=quantity, email=email)
    day = timezone.localtime(slot.starts_at).date()
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.DAY,
        site=slot.site,
        exhibition=slot.exhibition,
        first_day=day,
        last_day=day,
        reason="a strike",
        default_choice=default,
        answer_days=14,
    )
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    return Refund.objects.get(order=order), slot


# --- a buyer's request, decided by staff ---------------------------------------------------


def test_a_request_approved_in_part_with_a_fee_frees_the_seats_and_pays_the_rest(
    run_tasks, settings
):
    # given a cash order of two tickets a week ahead
    slot = visit_slot()
    order = desk_order(slot=slot, quantity=2)
    # when the buyer asks to cancel one of them
    ticket = order.tickets.first()
    with run_tasks():
        refund = refund_request(order=order, ticket_ids=[ticket.pk], reason="ill")
    assert (refund.status, refund.paid_cents, refund.method) == ("requested", 1400, "bank")
    assert seats_taken(slot_ids=[slot.pk], now=timezone.now())[slot.pk] == 2
    # and staff approve it with a 2 € fee
    with run_tasks():
        refund_approve(refund=refund, actor=None, fee_cents=200)
    # then 12 € are owed by bank transfer, the ticket is void and its seat is for sale again
    refund.refresh_from_db()
    assert (refund.status, refund.amount_cents, refund.fee_cents) == ("approved", 1200, 200)
    assert refund.needs_bank_details is True
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.CANCELLED
    assert seats_taken(slot_ids=[slot.pk], now=timezone.now())[slot.pk] == 1
    order.refresh_from_db()
    assert order.status == Order.Status.PAID  # the other ticket still admits
    assert set(
        OutboxEmail.objects.filter(to=order.email, dedupe_key__startswith="refunds.").values_list(
            "dedupe_key", flat=True
        )
    ) == {f"refunds.requested:{refund.pk}", f"refunds.approved:{refund.pk}"}
    # when the desk pays it back in cash
    refund_paid_at_desk(refund=refund, actor=None)
    refund.refresh_from_db()
    assert (refund.status, refund.method) == ("succeeded", "cash")


def test_a_second_approval_and_too_large_amounts_change_nothing(run_tasks):
    order = desk_order(slot=visit_slot(), quantity=1)
    refund = refund_request(order=order, ticket_ids=None)
    with pytest.raises(RefundError):
        refund_approve(refund=refund, actor=None, amount_cents=1500)
    with pytest.raises(RefundError):
        refund_approve(refund=refund, actor=None, amount_cents=1300, fee_cents=200)
    with pytest.raises(RefundError):
        refund_approve(refund=refund, actor=None, fee_cents=-1)
    refund.refresh_from_db()
    assert (refund.status, refund.amount_cents, refund.fee_cents) == ("requested", 1400, 0)
    assert order.tickets.get().status == Ticket.Status.VALID
    with run_tasks():
        refund_approve(refund=refund, actor=None)
    with pytest.raises(RefundError):
        refund_approve(refund=refund, actor=None)
    assert AuditEvent.objects.filter(action="refund.approved").count() == 1


def test_refusing_needs_a_reason_and_keeps_the_tickets():
    order = desk_order(slot=visit_slot(), quantity=1)
    refund = refund_request(order=order, ticket_ids=None)
    with pytest.raises(RefundError):
        refund_refuse(refund=refund, actor=None, reason="  ")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REQUESTED
    refund_refuse(refund=refund, actor=None, reason="The cut-off was explained at purchase.")
    refund.refresh_from_db()
    assert (refund.status, refund.staff_reason) == (
        "refused",
        "The cut-off was explained at purchase.",
    )
    assert order.tickets.get().status == Ticket.Status.VALID


def test_a_request_after_the_cut_off_or_twice_is_refused(settings):
    settings.REFUNDS = {**settings.REFUNDS, "REQUEST_CUTOFF_HOURS": 48}
    slot = visit_slot(days_ahead=1)
    order = desk_order(slot=slot, quantity=2)
    with pytest.raises(RefundError) as caught:
        refund_request(order=order, ticket_ids=None)
    assert "48 hours" in str(caught.value.message)
    assert not Refund.objects.exists()
    later = desk_order(slot=visit_slot(days_ahead=10), quantity=1)
    refund_request(order=later, ticket_ids=None)
    with pytest.raises(RefundError):
        refund_request(order=later, ticket_ids=None)
    assert Refund.objects.count() == 1


def test_a_request_naming_another_orders_ticket_is_refused():
    mine = desk_order(slot=visit_slot(), quantity=1)
    theirs = desk_order(slot=visit_slot(hour=12), quantity=1)
    with pytest.raises(RefundError):
        refund_request(order=mine, ticket_ids=[theirs.tickets.get().pk])
    assert not Refund.objects.exists()


# --- the buyer's choice after a cancellation -----------------------------------------------


def test_choosing_a_bank_refund_with_a_wrong_iban_changes_nothing(run_tasks):
    refund, _slot = _offer(run_tasks)
    with pytest.raises(ValidationError):
        refund_bank_details_set(refund=refund, account_holder="Grace Desk", iban="BE68539007547035")
    refund.refresh_from_db()
    assert (refund.status, refund.iban) == ("offered", "")
    with run_tasks():
        refund_bank_details_set(
            refund=refund, account_holder="Grace Desk", iban="be68 5390 0754 7034"
        )
    refund.refresh_from_db()
    assert (refund.status, refund.iban, refund.choice) == (
        "approved",
        "BE68539007547034",
        "refund",
    )
    event = AuditEvent.objects.get(action="refund.bank_details_given")
    assert "BE68539007547034" not in str(event.data)


def test_a_voucher_of_the_paid_value_closes_the_offer_once(run_tasks):
    refund, _slot = _offer(run_tasks, quantity=2)
    with run_tasks():
        refund_choose(refund=refund, choice="voucher")
    voucher = Voucher.objects.get()
    assert (voucher.amount_cents, voucher.balance_cents, voucher.refund_id) == (
        2800,
        2800,
        refund.pk,
    )
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.voucher:{refund.pk}").exists()
    assert (
        voucher.code in OutboxEmail.objects.get(dedupe_key=f"refunds.voucher:{refund.pk}").body_text
    )
    with pytest.raises(RefundError):
        refund_choose(refund=refund, choice="refund")
    assert Voucher.objects.count() == 1
    refund.refresh_from_db()
    assert refund.status == Refund.Status.VOUCHER
    refund.order.refresh_from_db()
    assert refund.order.status == Order.Status.CANCELLED


def test_rebooking_moves_the_tickets_to_a_slot_with_room_and_refuses_a_full_one(run_tasks):
    refund, slot = _offer(run_tasks, quantity=2)
    full = visit_slot(exhibition=slot.exhibition, hour=12, capacity=1)
    roomy = visit_slot(exhibition=slot.exhibition, hour=15, capacity=5)
    # the full slot is not offered, and choosing it anyway is refused
    assert [s.pk for s in rebook_slots(refund)] == [roomy.pk]
    with pytest.raises(RefundError):
        refund_choose(refund=refund, choice="rebook", time_slot=full)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.OFFERED
    with run_tasks():
        refund_choose(refund=refund, choice="rebook", time_slot=roomy)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REBOOKED
    new = list(refund.order.tickets.filter(status=Ticket.Status.VALID))
    assert [t.time_slot_id for t in new] == [roomy.pk, roomy.pk]
    assert seats_taken(slot_ids=[roomy.pk], now=timezone.now())[roomy.pk] == 2
    refund.order.refresh_from_db()
    assert refund.order.status == Order.Status.PAID
    assert OutboxEmail.objects.filter(dedupe_key__startswith="ticketing.order_tickets:").exists()


def test_the_default_applies_after_the_answer_period(run_tasks):
    refund_default, _ = _offer(run_tasks, default="voucher")
    answered, _ = _offer(run_tasks, default="voucher")
    with run_tasks():
        refund_choose(refund=answered, choice="refund")
    # nothing happens before the deadline
    assert refunds_apply_defaults() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)), run_tasks():
        assert refunds_apply_defaults() == 1
        assert refunds_apply_defaults() == 0
    refund_default.refresh_from_db()
    answered.refresh_from_db()
    assert (refund_default.status, refund_default.chosen_by_default) == ("voucher", True)
    assert answered.status == Refund.Status.APPROVED


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_choices_make_one_decision(django_capture_on_commit_callbacks):
    # given an offer (built and committed)
    slot = visit_slot()
    order = desk_order(slot=slot, quantity=1)
    day = timezone.localtime(slot.starts_at).date()
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SITE, site=slot.site, first_day=day, last_day=day, reason="flood"
    )
    campaign_start(campaign=campaign, actor=None)
    refund = Refund.objects.get(order=order)
    # when two requests choose at the same moment, a voucher and a refund
    barrier = threading.Barrier(2)
    results: list[str] = []

    def choose(choice: str) -> None:
        try:
            barrier.wait(timeout=10)
            refund_choose(refund=Refund.objects.get(pk=refund.pk), choice=choice)
            results.append(choice)
        except RefundError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=choose, args=(c,)) for c in ("voucher", "refund")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # then exactly one wins and the other is told the offer is closed
    assert sorted(results).count("refused") == 1
    refund.refresh_from_db()
    assert refund.status in (Refund.Status.VOUCHER, Refund.Status.APPROVED)
    assert Voucher.objects.count() == (1 if refund.status == Refund.Status.VOUCHER else 0)


def test_a_provider_event_without_a_refund_id_touches_no_refund():
    # given a bank refund in a transfer file (sent, no provider reference)
    from refunds.services.refunds import refund_on_provider_event
    from tests.refunds.factories import RefundFactory
    from ticketing.payments.base import ProviderEvent

    sent = RefundFactory(status=Refund.Status.SENT)
    event = ProviderEvent(
        event_id="evt_1",
        event_type="refund.updated",
        extra={"refund": "", "status": "succeeded", "refund_public_id": ""},
    )
    # when a refund event without a refund id arrives
    known = refund_on_provider_event("stripe", event)
    # then it is not ours and the bank refund is untouched
    assert known is False
    sent.refresh_from_db()
    assert sent.status == Refund.Status.SENT
    assert not AuditEvent.objects.filter(action="refund.succeeded").exists()


def test_a_bounced_transfer_can_be_paid_in_cash_at_the_desk():
    from tests.refunds.factories import RefundFactory, TransferBatchFactory

    bounced = RefundFactory(
        status=Refund.Status.FAILED, transfer_batch=TransferBatchFactory(), failure="closed"
    )
    refund_paid_at_desk(refund=bounced, actor=None)
    bounced.refresh_from_db()
    assert (bounced.status, bounced.method) == ("succeeded", "cash")
    in_file = RefundFactory(status=Refund.Status.APPROVED, transfer_batch=TransferBatchFactory())
    with pytest.raises(RefundError):
        refund_paid_at_desk(refund=in_file, actor=None)
    in_file.refresh_from_db()
    assert in_file.status == Refund.Status.APPROVED
