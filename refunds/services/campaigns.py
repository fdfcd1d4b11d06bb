"""Cancellation campaigns: preview what a cancellation touches, then run it order by order.

Starting a campaign stops the sale of what it cancels at once (slots cancelled, a
closure for a whole site) and lists every affected order as a ``CampaignOrder``. A Celery
task then works through the list in chunks, one transaction per order: a failing order
is marked failed with its error and the others go on; ``campaign_retry_failed`` puts the
failed ones back in the queue. Each order gets at most one refund per campaign (a unique
constraint), so running a campaign again pays nobody twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import MuseumCard
from museum.audit import audit_record, audit_record_many
from museum.models import Closure
from refunds import locking
from refunds.errors import CampaignError
from refunds.models import Campaign, CampaignOrder, CardExtension, Choice, Refund, ResellerNotice
from refunds.services.refunds import (
    _approve,
    _mail,
    payout_path,
    refund_path_for,
    refunds_mail_many,
)
from ticketing import locking as ticket_locking
from ticketing.models import Order, Payment, Ticket, TimeSlot
from ticketing.selectors import site_day_bounds

logger = logging.getLogger(__name__)

CHUNK = 200


def campaign_slots(campaign: Campaign) -> QuerySet[TimeSlot]:
    """The time slots a campaign cancels."""
    if campaign.scope == Campaign.Scope.SLOT:
        return TimeSlot.objects.filter(pk=campaign.time_slot_id or 0)
    start, _end = site_day_bounds(campaign.first_day)
    _start, end = site_day_bounds(campaign.last_day)
    slots = TimeSlot.objects.filter(
        site_id=campaign.site_id, starts_at__gte=start, starts_at__lt=end
    )
    if campaign.scope in (Campaign.Scope.DAY, Campaign.Scope.EXHIBITION):
        slots = slots.filter(exhibition_id=campaign.exhibition_id or 0)
    return slots


def campaign_tickets(campaign: Campaign) -> QuerySet[Ticket]:
    """Tickets of paid orders that the campaign voids: still admitting, not yet used."""
    return Ticket.objects.filter(
        time_slot__in=campaign_slots(campaign),
        status=Ticket.Status.VALID,
        checked_in_at__isnull=True,
        order__status=Order.Status.PAID,
    )


@dataclass
class CampaignPreview:
    orders: int = 0
    tickets: int = 0
    seats: int = 0
    amount_cents: int = 0
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)
    by_method: dict[str, dict[str, int]] = field(default_factory=dict)
    emails: int = 0
    without_email: int = 0
    slots: int = 0
    holds_to_release: int = 0
    cards_to_extend: int = 0
    sample: list[dict] = field(default_factory=list)


def campaign_preview(*, campaign: Campaign, now: dt.datetime | None = None) -> CampaignPreview:
    """What running the campaign would do, counted without changing anything."""
    now = now or timezone.now()
    preview = CampaignPreview()
    preview.slots = campaign_slots(campaign).count()
    rows = list(
        campaign_tickets(campaign)
        .values(
            "order_id",
            "order__code",
            "order__channel",
            "order__payment_method",
            "order__total_cents",
            "order__voucher_cents",
            "order__buyer__email",
            "price_cents",
            "seats",
        )
        .order_by("order_id")
    )
    orders: dict[int, dict] = {}
    for row in rows:
        entry = orders.setdefault(
            row["order_id"],
            {
                "code": row["order__code"],
                "channel": row["order__channel"],
                "payment_method": row["order__payment_method"],
                "total_cents": row["order__total_cents"],
                "voucher_cents": row["order__voucher_cents"],
                "email": bool(row["order__buyer__email"]),
                "amount_cents": 0,
                "tickets": 0,
            },
        )
        entry["amount_cents"] += row["price_cents"]
        entry["tickets"] += 1
        preview.seats += row["seats"]
    preview.orders = len(orders)
    preview.tickets = len(rows)
    # The method needs the order's payments only for card payments: one query for all.
    stripe_paid = _orders_with_card_payment([k for k, v in orders.items() if v["payment_method"]])
    for order_id, entry in orders.items():
        preview.amount_cents += entry["amount_cents"]
        channel = entry["channel"]
        method = _method_label(entry, stripe_paid.get(order_id))
        entry["method"] = method
        for bucket, key in ((preview.by_channel, channel), (preview.by_method, method)):
            totals = bucket.setdefault(key, {"orders": 0, "amount_cents": 0})
            totals["orders"] += 1
            totals["amount_cents"] += entry["amount_cents"]
        if channel == Order.Channel.RESELLER:
            continue  # the reseller is told, not its customers
        if entry["email"]:
            preview.emails += 1
        else:
            preview.without_email += 1
    preview.sample = list(orders.values())[:50]
    preview.holds_to_release = (
        Order.objects.holding(now)
        .filter(tickets__time_slot__in=campaign_slots(campaign))
        .distinct()
        .count()
    )
    if campaign.scope == Campaign.Scope.SITE and campaign.extend_cards:
        preview.cards_to_extend = _cards_to_extend(campaign).count()
    return preview


def _orders_with_card_payment(order_ids: list[int]) -> dict[int, str]:
    from ticketing.models import Payment

    rows = Payment.objects.filter(
        order_id__in=order_ids,
        status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED],
    ).values_list("order_id", "provider")
    return dict(rows)


def _method_label(entry: dict, provider: str | None) -> str:
    if entry["channel"] == Order.Channel.RESELLER:
        return Refund.Method.RESELLER
    if entry["total_cents"] == 0 or entry["amount_cents"] == 0:
        return Refund.Method.NOTHING
    if entry["voucher_cents"] >= entry["total_cents"]:
        return Refund.Method.VOUCHER
    if provider == "stripe":
        return Refund.Method.STRIPE
    if provider == "demo":
        return Refund.Method.DEMO
    return Refund.Method.BANK_TRANSFER


def _cards_to_extend(campaign: Campaign) -> QuerySet[MuseumCard]:
    return MuseumCard.objects.filter(
        status=MuseumCard.Status.ACTIVE,
        valid_from__lte=campaign.last_day,
        valid_until__gte=campaign.first_day,
    ).exclude(closure_extensions__campaign=campaign)


def campaign_start(*, campaign: Campaign, actor, now: dt.datetime | None = None) -> Campaign:
    """Stop the sale of what the campaign cancels and queue every affected order.

    Side effects: slots cancelled, a Closure for a whole site, pending holds on those
    slots expired (a late payment is then refunded), CampaignOrder rows, audit, the
    processing task after commit.
    Raises: CampaignError when the campaign was already started or names nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = locking.lock_campaign(campaign.pk)
        if locked.status != Campaign.Status.DRAFT:
            raise CampaignError(_("This campaign was already started."))
        if locked.last_day < locked.first_day:
            raise CampaignError(_("The last day is before the first day."))
        slot_ids = list(campaign_slots(locked).values_list("pk", flat=True))
        if locked.scope == Campaign.Scope.SITE:
            locked.closure = Closure.objects.create(
                site_id=locked.site_id,
                starts_on=locked.first_day,
                ends_on=locked.last_day,
                reason=locked.reason[:200],
            )
        elif not slot_ids:
            raise CampaignError(_("No time slot falls within this cancellation."))
        # Lock the slots (ascending ids, as every seller does) so no sale slips in between.
        ticket_locking.lock_slots(slot_ids)
        TimeSlot.objects.filter(pk__in=slot_ids).update(is_cancelled=True, updated_at=now)
        Order.objects.holding(now).filter(tickets__time_slot_id__in=slot_ids).update(
            status=Order.Status.EXPIRED, hold_expires_at=now, updated_at=now
        )
        order_ids = sorted(
            set(campaign_tickets(locked).values_list("order_id", flat=True).distinct())
        )
        CampaignOrder.objects.bulk_create(
            [CampaignOrder(campaign=locked, order_id=oid) for oid in order_ids],
            batch_size=2000,
            ignore_conflicts=True,
        )
        locked.status = Campaign.Status.RUNNING
        locked.started_at = now
        locked.answer_by = now + dt.timedelta(days=locked.answer_days)
        locked.total_orders = len(order_ids)
        if getattr(actor, "is_authenticated", False) and locked.created_by_id is None:
            locked.created_by = actor
        locked.save()
        audit_record(
            action="campaign.started",
            subject=locked,
            actor=actor,
            data={"slots": len(slot_ids), "orders": len(order_ids), "scope": locked.scope},
            now=now,
        )
        campaign_id = locked.pk
        from refunds.tasks import process_campaign

        transaction.on_commit(lambda: process_campaign.delay(campaign_id))
    return locked


def campaign_process(
    *, campaign_id: int, chunk: int = CHUNK, now: dt.datetime | None = None
) -> bool:
    """Work through one chunk of the campaign's pending orders; True when more remain.

    Each order is handled in its own savepoint; an error marks that order failed (with
    the error) and the loop goes on. When nothing is pending any more, museum cards are
    extended (whole-site closures) and the campaign is marked done.
    Side effects: refunds, voided tickets, e-mails, reseller notices, progress counters.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("site").get(pk=campaign_id)
    if campaign.status != Campaign.Status.RUNNING:
        return False
    slot_ids = list(campaign_slots(campaign).values_list("pk", flat=True))
    # The chunk's rows stay locked until it commits, so a second worker (a task queued
    # twice) skips them. The chunk's web and desk orders are offered their refunds in a few
    # set-based statements (a savepoint); if that fails, or for reseller orders, each order
    # runs in its own savepoint, so one failure rolls back that order only.
    with transaction.atomic():
        entries = list(
            CampaignOrder.objects.select_for_update(skip_locked=True)
            .filter(campaign_id=campaign_id, status=CampaignOrder.Status.PENDING)
            .order_by("order_id")[:chunk]
            .values_list("pk", "order_id")
        )
        try:
            with transaction.atomic():
                handled = _offer_in_bulk(
                    campaign, order_ids=[o for _pk, o in entries], slot_ids=slot_ids, now=now
                )
        except Exception:
            logger.exception("campaign %s: chunk failed as a whole; order by order", campaign_id)
            handled = set()
        CampaignOrder.objects.filter(
            pk__in=[pk for pk, order_id in entries if order_id in handled]
        ).update(
            status=CampaignOrder.Status.DONE,
            processed_at=now,
            error="",
            attempts=F("attempts") + 1,
        )
        for entry_id, order_id in entries:
            if order_id in handled:
                continue
            try:
                with transaction.atomic():
                    _process_order(campaign, order_id=order_id, slot_ids=slot_ids, now=now)
                    CampaignOrder.objects.filter(pk=entry_id).update(
                        status=CampaignOrder.Status.DONE,
                        processed_at=now,
                        error="",
                        attempts=F("attempts") + 1,
                    )
            except Exception as exc:  # one order's failure must not stop the others
                logger.exception("campaign %s: order %s failed", campaign_id, order_id)
                CampaignOrder.objects.filter(pk=entry_id).update(
                    status=CampaignOrder.Status.FAILED,
                    processed_at=now,
                    error=f"{exc.__class__.__name__}: {exc}"[:500],
                    attempts=F("attempts") + 1,
                )
    if CampaignOrder.objects.filter(
        campaign_id=campaign_id, status=CampaignOrder.Status.PENDING
    ).exists():
        return True
    _finish(campaign_id, now=now)
    return False


def _offer_in_bulk(
    campaign: Campaign, *, order_ids: list[int], slot_ids: list[int], now: dt.datetime
) -> set[int]:
    """Offer the refunds of a chunk's web and desk orders in a few statements.

    The same outcome as ``_process_order`` for each of them (one refund per order and
    campaign, tickets voided, an audit event, the offer e-mail), written set-based: the
    orders are locked in id order, then refunds, their tickets, the voided tickets, audit
    events and e-mails are each written in one statement. Returns the ids of the orders
    handled; reseller orders are left to ``_process_order``. Call in a savepoint.
    """
    orders = {
        o.pk: o
        for o in Order.objects.select_for_update()
        .filter(pk__in=order_ids)
        .exclude(channel=Order.Channel.RESELLER)
        .order_by("pk")
    }
    already = set(
        Refund.objects.filter(campaign=campaign, order_id__in=list(orders)).values_list(
            "order_id", flat=True
        )
    )
    tickets_by_order: dict[int, list[Ticket]] = {}
    for ticket in Ticket.objects.filter(
        order_id__in=[pk for pk in orders if pk not in already],
        time_slot_id__in=slot_ids,
        status=Ticket.Status.VALID,
        checked_in_at__isnull=True,
    ).order_by("pk"):
        tickets_by_order.setdefault(ticket.order_id, []).append(ticket)
    payments: dict[int, Payment] = {}
    for payment in Payment.objects.filter(
        order_id__in=list(tickets_by_order),
        status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED],
    ).order_by("created_at"):
        if payment.provider == orders[payment.order_id].payment_method:
            payments[payment.order_id] = payment  # the latest one, as refund_path_for
    refunds = []
    for order_id, tickets in tickets_by_order.items():
        order = orders[order_id]
        paid = sum(t.price_cents for t in tickets)
        path = payout_path(order, payments.get(order_id))
        refund = Refund(
            order=order,
            campaign=campaign,
            origin=Refund.Origin.CAMPAIGN,
            status=Refund.Status.OFFERED,
            method=path.method if paid else Refund.Method.NOTHING,
            payment=path.payment,
            paid_cents=paid,
            amount_cents=paid,
            currency=order.currency,
            answer_by=campaign.answer_by,
        )
        refunds.append(refund)
    Refund.objects.bulk_create(refunds)
    links = Refund.tickets.through
    links.objects.bulk_create(
        [
            links(refund_id=refund.pk, ticket_id=ticket.pk)
            for refund in refunds
            for ticket in tickets_by_order[refund.order_id]
        ]
    )
    # The visits will not happen: the tickets stop admitting and their seats are freed now.
    Ticket.objects.filter(
        pk__in=[t.pk for tickets in tickets_by_order.values() for t in tickets]
    ).update(status=Ticket.Status.CANCELLED, cancelled_at=now, updated_at=now)
    audit_record_many(
        action="refund.offered",
        events=[
            (
                refund,
                {
                    "campaign": campaign.pk,
                    "tickets": len(tickets_by_order[refund.order_id]),
                    "paid_cents": refund.paid_cents,
                },
            )
            for refund in refunds
        ],
        now=now,
    )
    refunds_mail_many(refunds, template="offer", key="offer")
    return set(orders)


def _process_order(
    campaign: Campaign, *, order_id: int, slot_ids: list[int], now: dt.datetime
) -> Refund | None:
    """Offer (or, for a reseller, settle) the refund of one order's cancelled tickets."""
    order = ticket_locking.lock_order(order_id)
    existing = Refund.objects.filter(campaign=campaign, order_id=order_id).first()
    if existing is not None:
        return existing
    tickets = list(
        order.tickets.filter(
            time_slot_id__in=slot_ids, status=Ticket.Status.VALID, checked_in_at__isnull=True
        )
    )
    if not tickets:
        return None
    path = refund_path_for(order)
    paid = sum(t.price_cents for t in tickets)
    refund = Refund.objects.create(
        order=order,
        campaign=campaign,
        origin=Refund.Origin.CAMPAIGN,
        status=Refund.Status.OFFERED,
        method=path.method if paid else Refund.Method.NOTHING,
        payment=path.payment,
        paid_cents=paid,
        amount_cents=paid,
        currency=order.currency,
        answer_by=campaign.answer_by,
    )
    refund.tickets.set(tickets)
    refund.order = order
    refund.campaign = campaign
    # The visit will not happen: the tickets stop admitting and their seats are freed now,
    # whatever the buyer then chooses.
    Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
        status=Ticket.Status.CANCELLED, cancelled_at=now, updated_at=now
    )
    audit_record(
        action="refund.offered",
        subject=refund,
        data={"campaign": campaign.pk, "tickets": len(tickets), "paid_cents": paid},
        now=now,
    )
    if path.method == Refund.Method.RESELLER:
        # The reseller refunds its own customer; the museum credits the reseller.
        refund.choice = Choice.REFUND
        _approve(refund, actor=None, now=now)
        Refund.objects.filter(pk=refund.pk).update(
            status=Refund.Status.SUCCEEDED, succeeded_at=now, closed_at=now
        )
        refund.status = Refund.Status.SUCCEEDED
        from refunds.services.refunds import _settle_order

        _settle_order(order, now=now)
        _notify_reseller(order, campaign=campaign, tickets=tickets, refund=refund, now=now)
        return refund
    _mail(refund, template="offer", key="offer")
    return refund


def _notify_reseller(
    order: Order, *, campaign: Campaign, tickets: list[Ticket], refund: Refund, now: dt.datetime
) -> None:
    kind = (
        ResellerNotice.Kind.ORDER_CANCELLED
        if order.status != Order.Status.PAID
        else ResellerNotice.Kind.TICKETS_CANCELLED
    )
    from refunds.services.notices import reseller_notice_record

    reseller_notice_record(
        order=order,
        kind=kind,
        dedupe_key=f"campaign:{campaign.pk}:{order.pk}",
        campaign=campaign,
        data={
            "reason": campaign.reason,
            "tickets": [str(t.public_id) for t in tickets],
            "credited_cents": refund.amount_cents,
            "currency": refund.currency,
        },
        now=now,
    )


def _finish(campaign_id: int, *, now: dt.datetime) -> None:
    with transaction.atomic():
        campaign = locking.lock_campaign(campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            return
        if campaign.scope == Campaign.Scope.SITE and campaign.extend_cards:
            campaign.cards_extended += _extend_cards(campaign, now=now)
        failed = CampaignOrder.objects.filter(
            campaign_id=campaign_id, status=CampaignOrder.Status.FAILED
        ).count()
        campaign.status = Campaign.Status.FAILED if failed else Campaign.Status.DONE
        campaign.finished_at = now
        campaign.save(update_fields=["status", "finished_at", "cards_extended", "updated_at"])
        audit_record(
            action="campaign.finished",
            subject=campaign,
            data={"failed_orders": failed, "cards_extended": campaign.cards_extended},
            now=now,
        )


def _extend_cards(campaign: Campaign, *, now: dt.datetime) -> int:
    """Add to each active card the closed days that fell within its validity, once."""
    cards = list(_cards_to_extend(campaign).select_for_update(of=("self",)).order_by("pk"))
    extensions = []
    for card in cards:
        assert card.valid_from is not None and card.valid_until is not None
        first = max(card.valid_from, campaign.first_day)
        last = min(card.valid_until, campaign.last_day)
        days = (last - first).days + 1
        if days <= 0:
            continue
        after = card.valid_until + dt.timedelta(days=days)
        extensions.append(
            CardExtension(
                campaign=campaign,
                card=card,
                days=days,
                valid_until_before=card.valid_until,
                valid_until_after=after,
            )
        )
        card.valid_until = after
    MuseumCard.objects.bulk_update(
        [c for c in cards if any(e.card is c for e in extensions)], ["valid_until"], batch_size=500
    )
    CardExtension.objects.bulk_create(extensions, batch_size=500)
    return len(extensions)


def campaign_retry_failed(*, campaign: Campaign, actor, now: dt.datetime | None = None) -> int:
    """Put the campaign's failed orders back in the queue and run it again; returns how many.

    Side effects: statuses, audit, the processing task after commit.
    Raises: CampaignError when the campaign has not been started.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = locking.lock_campaign(campaign.pk)
        if locked.status in (Campaign.Status.DRAFT,):
            raise CampaignError(_("This campaign has not been started."))
        count = CampaignOrder.objects.filter(
            campaign=locked, status=CampaignOrder.Status.FAILED
        ).update(status=CampaignOrder.Status.PENDING, error="")
        if not count:
            return 0
        locked.status = Campaign.Status.RUNNING
        locked.finished_at = None
        locked.save(update_fields=["status", "finished_at", "updated_at"])
        audit_record(
            action="campaign.retried", subject=locked, actor=actor, data={"orders": count}, now=now
        )
        campaign_id = locked.pk
        from refunds.tasks import process_campaign

        transaction.on_commit(lambda: process_campaign.delay(campaign_id))
    return count


def campaign_progress(campaign: Campaign) -> dict[str, int]:
    """Counts for the progress bar: orders to do, done and failed."""
    counts = dict(
        CampaignOrder.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    total = sum(counts.values())
    return {
        "total": total,
        "done": counts.get(CampaignOrder.Status.DONE, 0),
        "failed": counts.get(CampaignOrder.Status.FAILED, 0),
        "pending": counts.get(CampaignOrder.Status.PENDING, 0),
    }
