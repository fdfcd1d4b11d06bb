"""The buyer's answer to a cancellation: money back, another date, or a voucher; and the
campaign's default for those who do not answer in time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from refunds import locking
from refunds.errors import RefundError
from refunds.models import Choice, Refund, Voucher
from refunds.services.refund_common import (
    _approve,
    _mail,
    _settle_order,
    _void_tickets,
)
from ticketing import locking as ticket_locking
from ticketing.errors import TicketingError
from ticketing.models import Order, Ticket, TimeSlot

logger = logging.getLogger(__name__)


def refund_choose(
    *,
    refund: Refund,
    choice: str,
    time_slot: TimeSlot | None = None,
    now: dt.datetime | None = None,
) -> Refund:
    """The buyer of a cancelled visit chooses: money back, another date, or a voucher.

    A new date needs a slot of the same exhibition with room for every seat; the tickets
    are issued again in it and e-mailed. Side effects: as for approval, or new tickets, or
    a voucher with its e-mail. Raises: RefundError (already chosen, wrong slot, full).
    """
    now = now or timezone.now()
    if choice not in Choice.values:
        raise RefundError(_("Choose one of the options."), field="choice")
    with transaction.atomic():
        order = ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.OFFERED:
            raise RefundError(_("You have already chosen; this offer is closed."))
        locked.choice = choice
        if choice == Choice.REFUND:
            _approve(locked, actor=None, now=now)
        elif choice == Choice.VOUCHER:
            _issue_voucher(locked, now=now)
        else:
            _rebook(locked, order=order, time_slot=time_slot, now=now)
    return locked


def _issue_voucher(refund: Refund, *, now: dt.datetime, by_default: bool = False) -> Voucher:
    months = settings.REFUNDS["VOUCHER_MONTHS"]
    valid_until = timezone.localdate(now) + dt.timedelta(days=round(months * 365.25 / 12))
    voucher = Voucher.objects.create(
        refund=refund,
        amount_cents=refund.paid_cents,
        balance_cents=refund.paid_cents,
        currency=refund.currency,
        email=refund.order.email,
        language=refund.order.language,
        valid_until=valid_until,
    )
    refund.status = Refund.Status.VOUCHER
    refund.choice = Choice.VOUCHER
    refund.chosen_by_default = by_default
    refund.amount_cents = 0
    refund.closed_at = now
    refund.save()
    _void_tickets(refund, now=now)
    _settle_order(refund.order, now=now)
    audit_record(
        action="refund.voucher_issued",
        subject=refund,
        actor_label="default" if by_default else "buyer",
        data={"voucher": voucher.pk, "amount_cents": voucher.amount_cents},
        now=now,
    )
    _mail(
        refund,
        template="voucher",
        key="voucher",
        extra={
            "voucher_code": voucher.code,
            "voucher_amount": Decimal(voucher.amount_cents) / 100,
            "voucher_valid_until": voucher.valid_until,
        },
    )
    return voucher


def rebook_slots(refund: Refund, *, now: dt.datetime | None = None) -> list[TimeSlot]:
    """Slots the buyer may move to: same exhibition, on sale, not closed, within the horizon."""
    from museum.models import Closure

    now = now or timezone.now()
    tickets = list(refund.tickets.select_related("time_slot"))
    if not tickets:
        return []
    exhibition_id = tickets[0].time_slot.exhibition_id
    horizon = now + dt.timedelta(days=settings.REFUNDS["REBOOK_DAYS"])
    slots = list(
        TimeSlot.objects.select_related("exhibition", "site")
        .filter(
            exhibition_id=exhibition_id,
            is_cancelled=False,
            starts_at__gt=now,
            starts_at__lte=horizon,
        )
        .exclude(pk__in={t.time_slot_id for t in tickets})
        .order_by("starts_at")
    )
    if not slots:
        return []
    closures = list(
        Closure.objects.filter(site_id=slots[0].site_id).overlapping(
            timezone.localtime(slots[0].starts_at).date(),
            timezone.localtime(slots[-1].starts_at).date(),
        )
    )
    from ticketing.selectors import seats_taken

    seats = sum(t.seats for t in tickets)
    taken = seats_taken(slot_ids=[s.pk for s in slots], now=now)
    result = []
    for slot in slots:
        day = timezone.localtime(slot.starts_at).date()
        if any(c.starts_on <= day <= c.ends_on for c in closures):
            continue
        if slot.capacity - taken.get(slot.pk, 0) >= seats:
            result.append(slot)
    return result


def _rebook(refund: Refund, *, order: Order, time_slot: TimeSlot | None, now: dt.datetime) -> None:
    from ticketing.services.orders import _check_slot_on_sale, _ensure_capacity, order_send_tickets

    if time_slot is None:
        raise RefundError(_("Choose the new date and time."), field="time_slot")
    tickets = list(refund.tickets.select_related("time_slot", "ticket_type"))
    if not tickets or any(t.time_slot.exhibition_id != time_slot.exhibition_id for t in tickets):
        raise RefundError(_("This time slot is not one you can move to."), field="time_slot")
    if time_slot.pk in {t.time_slot_id for t in tickets}:
        raise RefundError(_("This is the cancelled time slot."), field="time_slot")
    if order.site is not None and order.site.daily_capacity is not None:
        ticket_locking.lock_site(order.site.pk)
    slots = ticket_locking.lock_slots([time_slot.pk])
    slot = slots[time_slot.pk]
    try:
        _check_slot_on_sale(slot, now)
        from museum.models import Closure

        if (
            Closure.objects.filter(site_id=slot.site_id)
            .covering(timezone.localtime(slot.starts_at).date())
            .exists()
        ):
            raise RefundError(_("The museum is closed on this day."), field="time_slot")
        needed: dict[int, int] = defaultdict(int)
        needed[slot.pk] = sum(t.seats for t in tickets)
        _ensure_capacity(
            site_id=slot.site_id,
            daily_capacity=slot.site.daily_capacity,
            needed=dict(needed),
            slots=slots,
            reseller=None,
            now=now,
        )
    except TicketingError as exc:
        raise RefundError(exc.message, field="time_slot") from exc
    _void_tickets(refund, now=now)
    new = [
        Ticket(
            order=order,
            time_slot=slot,
            ticket_type=t.ticket_type,
            seats=t.seats,
            price_cents=t.price_cents,
            vat_rate=t.vat_rate,
            museum_card=t.museum_card,
            status=Ticket.Status.VALID,
        )
        for t in tickets
    ]
    Ticket.objects.bulk_create(new)
    refund.status = Refund.Status.REBOOKED
    refund.choice = Choice.REBOOK
    refund.amount_cents = 0
    refund.closed_at = now
    refund.save()
    _settle_order(order, now=now)
    audit_record(
        action="refund.rebooked",
        subject=refund,
        actor_label="buyer",
        data={"from": [t.time_slot_id for t in tickets], "to": slot.pk, "tickets": len(new)},
        now=now,
    )
    resends = order.resend_count + 1
    Order.objects.filter(pk=order.pk).update(resend_count=resends)
    order.resend_count = resends
    order_send_tickets(order=order, resend_number=resends, tickets=new)


def refunds_apply_defaults(*, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Apply each campaign's default to offers nobody answered in time; returns how many.

    "Another date" is never chosen for someone: it falls back to a refund.
    Side effects: as for the buyer's choice, one transaction per refund.
    """
    now = now or timezone.now()
    done = 0
    while True:
        ids = list(
            Refund.objects.filter(status=Refund.Status.OFFERED, answer_by__lte=now)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return done
        for refund_id in ids:
            with transaction.atomic():
                refund = Refund.objects.select_related("order", "campaign").get(pk=refund_id)
                ticket_locking.lock_order(refund.order_id)
                locked = locking.lock_refund(refund_id)
                if locked.status != Refund.Status.OFFERED:
                    continue
                default = locked.campaign.default_choice if locked.campaign else Choice.REFUND
                if default == Choice.VOUCHER and locked.paid_cents > 0:
                    _issue_voucher(locked, now=now, by_default=True)
                else:
                    locked.choice = Choice.REFUND
                    _approve(locked, actor=None, now=now, by_default=True)
                done += 1
