"""One refund's life: requested or offered, decided, paid back (or rebooked, or a voucher).

Every change of state takes the order's row lock, then the refund's, re-reads the status
and moves it forward only from the states it allows, so a double click, a retried task or
a replayed webhook changes nothing the second time. Money leaves through Stripe (the
original card, once per idempotency key) or through a bank transfer file
(``refunds.services.transfers``); nothing here talks to a provider while a lock is held.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from museum.emails import EmailToQueue, email_enqueue, email_enqueue_many
from refunds import locking
from refunds.errors import RefundError
from refunds.models import Choice, Refund, Voucher
from ticketing import locking as ticket_locking
from ticketing.errors import PaymentError, TicketingError
from ticketing.models import Order, Payment, Ticket, TimeSlot
from ticketing.payments import get_provider

logger = logging.getLogger(__name__)

# States in which the money is owed or on its way: the order is not settled yet.
OPEN_MONEY_STATES = (Refund.Status.APPROVED, Refund.Status.SENT, Refund.Status.FAILED)


@dataclass(frozen=True)
class PayoutPath:
    method: str
    payment: Payment | None


def refund_path_for(order: Order) -> PayoutPath:
    """How money paid for ``order`` goes back: the card, a bank transfer, the reseller.

    Stripe can only refund to the payment method that paid; everything else (cash and card
    terminal at the desk, a card payment Stripe no longer knows) is a bank transfer.
    """
    payment = None
    if order.payment_method in (Order.PaymentMethod.STRIPE, Order.PaymentMethod.DEMO):
        payment = (
            order.payments.filter(
                provider=order.payment_method,
                status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED],
            )
            .order_by("-created_at")
            .first()
        )
    return payout_path(order, payment)


def payout_path(order: Order, payment: Payment | None) -> PayoutPath:
    """``refund_path_for`` with the order's card payment already looked up (or None)."""
    if order.channel == Order.Channel.RESELLER:
        return PayoutPath(Refund.Method.RESELLER, None)
    if order.total_cents == 0:
        return PayoutPath(Refund.Method.NOTHING, None)
    if order.voucher_cents >= order.total_cents:
        # Paid with vouchers only: the value goes back on them (vouchers_credit_refund).
        return PayoutPath(Refund.Method.VOUCHER, None)
    if payment is not None and payment.provider == order.payment_method:
        if payment.provider == Order.PaymentMethod.STRIPE:
            return PayoutPath(Refund.Method.STRIPE, payment)
        if payment.provider == Order.PaymentMethod.DEMO:
            return PayoutPath(Refund.Method.DEMO, payment)
    return PayoutPath(Refund.Method.BANK_TRANSFER, None)


def refund_public_path(refund: Refund) -> str:
    return reverse("refunds:refund", kwargs={"token": refund.token})


def _refunded_elsewhere(payment: Payment, *, exclude: int | None = None) -> int:
    """Cents of this payment already owed back or paid back by other refunds."""
    qs = Refund.objects.filter(
        payment=payment,
        status__in=[*OPEN_MONEY_STATES, Refund.Status.SUCCEEDED],
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    # Only the money part comes out of the payment; a voucher part goes back to a voucher.
    return qs.aggregate(total=Sum(F("amount_cents") - F("voucher_cents")))["total"] or 0


def _mail_context(refund: Refund, extra: dict | None = None) -> dict:
    """What every refund e-mail shows, with names read in the buyer's language."""
    order = refund.order
    with translation.override(order.language):
        return {
            "order_code": order.code,
            "name": order.name,
            "amount": Decimal(refund.amount_cents) / 100,
            "paid": Decimal(refund.paid_cents) / 100,
            "fee": Decimal(refund.fee_cents) / 100,
            "currency": refund.currency,
            "method": str(refund.get_method_display()),
            "refund_url": settings.SITE_URL + refund_public_path(refund),
            "reason": refund.campaign.reason if refund.campaign else refund.staff_reason,
            "answer_by": timezone.localtime(refund.answer_by) if refund.answer_by else None,
            "default_choice": (
                str(refund.campaign.get_default_choice_display()) if refund.campaign else ""
            ),
            "needs_bank_details": refund.needs_bank_details,
            **(extra or {}),
        }


def _mail(refund: Refund, *, template: str, key: str, extra: dict | None = None) -> None:
    """Queue an e-mail about ``refund`` to its buyer, in the buyer's language, once per key."""
    order = refund.order
    if not order.email:
        return
    email_enqueue(
        dedupe_key=f"refunds.{key}:{refund.pk}",
        to=order.email,
        template=f"refunds/{template}",
        context=_mail_context(refund, extra),
        language=order.language,
    )


def refunds_mail_many(refunds: list[Refund], *, template: str, key: str) -> None:
    """``_mail`` for many refunds at once (a campaign's chunk): one insert for all."""
    email_enqueue_many(
        [
            EmailToQueue(
                dedupe_key=f"refunds.{key}:{refund.pk}",
                to=refund.order.email,
                template=f"refunds/{template}",
                context=_mail_context(refund),
                language=refund.order.language,
            )
            for refund in refunds
            if refund.order.email
        ]
    )


def _void_tickets(refund: Refund, *, now: dt.datetime) -> None:
    """Void the refund's tickets still admitting: their seats go back on sale at once."""
    refund.tickets.filter(status__in=[Ticket.Status.VALID, Ticket.Status.RESERVED]).update(
        status=Ticket.Status.CANCELLED, cancelled_at=now, updated_at=now
    )


def _settle_order(order: Order, *, now: dt.datetime) -> None:
    """Bring the locked order's status in line with its tickets and refunds."""
    admitting = order.tickets.exclude(status=Ticket.Status.CANCELLED).exists()
    owed = order.refunds.filter(status__in=OPEN_MONEY_STATES).exists()
    if admitting:
        status = Order.Status.PAID
    elif owed:
        status = Order.Status.REFUND_PENDING
    elif order.refunds.filter(status=Refund.Status.SUCCEEDED, amount_cents__gt=0).exists():
        status = Order.Status.REFUNDED
    else:
        status = Order.Status.CANCELLED
    if order.status != status:
        order.status = status
        fields = ["status", "updated_at"]
        if status == Order.Status.CANCELLED and order.cancelled_at is None:
            order.cancelled_at = now
            fields.append("cancelled_at")
        order.save(update_fields=fields)


def _approve(refund: Refund, *, actor, now: dt.datetime, by_default: bool = False) -> None:
    """Move a locked refund to APPROVED (or straight to SUCCEEDED when nothing is owed)."""
    refund.status = Refund.Status.APPROVED
    refund.approved_at = now
    refund.choice = refund.choice or Choice.REFUND
    refund.chosen_by_default = by_default
    if refund.decided_by_id is None and getattr(actor, "is_authenticated", False):
        refund.decided_by = actor
    from refunds.services.vouchers import vouchers_credit_refund

    # What vouchers paid goes back to them first; only the rest is paid back as money.
    vouchers_credit_refund(refund, now=now)
    if (
        refund.amount_cents == 0
        or refund.method == Refund.Method.NOTHING
        or refund.money_cents == 0
    ):
        refund.status = Refund.Status.SUCCEEDED
        refund.succeeded_at = now
        refund.closed_at = now
    refund.save()
    _void_tickets(refund, now=now)
    _settle_order(refund.order, now=now)
    audit_record(
        action="refund.approved",
        subject=refund,
        actor=actor,
        data={
            "order": refund.order.code,
            "amount_cents": refund.amount_cents,
            "voucher_cents": refund.voucher_cents,
            "fee_cents": refund.fee_cents,
            "method": refund.method,
            "by_default": by_default,
        },
        now=now,
    )
    if refund.status == Refund.Status.APPROVED and refund.method in (
        Refund.Method.STRIPE,
        Refund.Method.DEMO,
    ):
        refund_id = refund.pk
        from refunds.tasks import send_refund

        transaction.on_commit(lambda: send_refund.delay(refund_id))
    if refund.method != Refund.Method.RESELLER:  # the reseller tells its own customer
        _mail(refund, template="approved", key="approved")


def refund_request(
    *,
    order: Order,
    ticket_ids: list[int] | None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Refund:
    """A buyer asks to cancel tickets of a paid order; staff decide later.

    Allowed until ``REFUNDS["REQUEST_CUTOFF_HOURS"]`` before the first chosen ticket's slot.
    Side effects: a REQUESTED refund with its tickets, audit event, an e-mail to the buyer.
    Raises: RefundError (nothing to cancel, past the cut-off, a request already waiting).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = ticket_locking.lock_order(order.pk)
        if locked.status != Order.Status.PAID or locked.channel == Order.Channel.RESELLER:
            raise RefundError(_("This order cannot be cancelled here."))
        if locked.refunds.filter(status=Refund.Status.REQUESTED).exists():
            raise RefundError(_("A cancellation request for this order is already waiting."))
        candidates = list(
            locked.tickets.select_related("time_slot")
            .filter(status=Ticket.Status.VALID, checked_in_at__isnull=True)
            .exclude(refunds__status__in=[Refund.Status.REQUESTED, *OPEN_MONEY_STATES])
        )
        if ticket_ids is not None:
            wanted = set(ticket_ids)
            chosen = [t for t in candidates if t.pk in wanted]
            if not wanted or len(chosen) != len(wanted):
                raise RefundError(
                    _("Some of these tickets were already used or cancelled."), field="tickets"
                )
        else:
            chosen = candidates
        if not chosen:
            raise RefundError(_("No ticket of this order can still be cancelled."))
        cutoff = dt.timedelta(hours=settings.REFUNDS["REQUEST_CUTOFF_HOURS"])
        first = min(t.time_slot.starts_at for t in chosen)
        if now > first - cutoff:
            raise RefundError(
                _("Tickets can be cancelled up to %(hours)d hours before the visit.")
                % {"hours": settings.REFUNDS["REQUEST_CUTOFF_HOURS"]}
            )
        path = refund_path_for(locked)
        paid = sum(t.price_cents for t in chosen)
        refund = Refund.objects.create(
            order=locked,
            origin=Refund.Origin.REQUEST,
            status=Refund.Status.REQUESTED,
            method=path.method,
            payment=path.payment,
            paid_cents=paid,
            amount_cents=paid,
            currency=locked.currency,
            buyer_reason=reason[:1000],
        )
        refund.tickets.set(chosen)
        audit_record(
            action="refund.requested",
            subject=refund,
            actor_label="buyer",
            data={"order": locked.code, "tickets": [t.pk for t in chosen], "paid_cents": paid},
            now=now,
        )
        _mail(refund, template="requested", key="requested")
    return refund


def refund_approve(
    *,
    refund: Refund,
    actor,
    amount_cents: int | None = None,
    fee_cents: int = 0,
    now: dt.datetime | None = None,
) -> Refund:
    """Staff approve a buyer's request, in full or in part, with an optional fee.

    Side effects: tickets void (seats back on sale), order status, audit, the payout
    started (Stripe task after commit, or a bank-details request), an e-mail.
    Raises: RefundError (already decided, amount above what was paid, negative amounts).
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.REQUESTED:
            raise RefundError(_("This request was already decided."))
        if fee_cents < 0 or (amount_cents is not None and amount_cents < 0):
            raise RefundError(_("Amounts cannot be negative."), field="amount")
        if fee_cents > locked.paid_cents:
            raise RefundError(_("The fee cannot be more than what was paid."), field="fee")
        amount = locked.paid_cents - fee_cents if amount_cents is None else amount_cents
        if amount + fee_cents > locked.paid_cents:
            raise RefundError(
                _("At most %(max).2f can be paid back (%(paid).2f paid, minus the fee).")
                % {
                    "max": (locked.paid_cents - fee_cents) / 100,
                    "paid": locked.paid_cents / 100,
                },
                field="amount",
            )
        payment = locked.payment
        from refunds.services.vouchers import vouchers_returnable_cents

        money = max(0, amount - vouchers_returnable_cents(locked.order))
        if payment is not None and money > payment.amount_cents - _refunded_elsewhere(
            payment, exclude=locked.pk
        ):
            raise RefundError(_("This is more than is left of the payment."), field="amount")
        locked.amount_cents = amount
        locked.fee_cents = fee_cents
        _approve(locked, actor=actor, now=now)
    return locked


def refund_refuse(*, refund: Refund, actor, reason: str, now: dt.datetime | None = None) -> Refund:
    """Staff refuse a buyer's request with a reason the buyer reads; tickets stay valid.

    Side effects: status, audit, an e-mail. Raises: RefundError (no reason, decided).
    """
    now = now or timezone.now()
    reason = (reason or "").strip()
    if not reason:
        raise RefundError(_("Say why the request is refused: the buyer reads it."), field="reason")
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.REQUESTED:
            raise RefundError(_("This request was already decided."))
        locked.status = Refund.Status.REFUSED
        locked.staff_reason = reason[:500]
        locked.closed_at = now
        if getattr(actor, "is_authenticated", False):
            locked.decided_by = actor
        locked.save()
        audit_record(
            action="refund.refused", subject=locked, actor=actor, data={"reason": reason}, now=now
        )
        _mail(locked, template="refused", key="refused")
    return locked


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


def refund_send(*, refund_id: int, now: dt.datetime | None = None) -> str:
    """Ask Stripe (or the demo provider) to pay an approved refund back; safe to repeat.

    The refund is claimed (APPROVED to SENT) before the call, under its lock; the call
    carries an idempotency key made of the refund and its attempt, so a retried task or a
    crash between claim and answer never refunds twice. The demo provider confirms at
    once; Stripe confirms by webhook (``refund_provider_update``).
    Side effects: provider call (no lock held), status, audit.
    Raises: nothing for a refund not to send; a provider failure marks it FAILED.
    """
    now = now or timezone.now()
    with transaction.atomic():
        refund = Refund.objects.select_related("order", "payment").get(pk=refund_id)
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund_id)
        if locked.method not in (Refund.Method.STRIPE, Refund.Method.DEMO):
            return locked.provider_reference
        if locked.status == Refund.Status.APPROVED and locked.money_cents == 0:
            # All of it went back to vouchers: no money to ask the provider for.
            locked.status = Refund.Status.SUCCEEDED
            locked.succeeded_at = locked.closed_at = now
            locked.save(update_fields=["status", "succeeded_at", "closed_at", "updated_at"])
            _settle_order(locked.order, now=now)
            return ""
        if locked.status == Refund.Status.APPROVED:
            locked.status = Refund.Status.SENT
            locked.sent_at = now
            locked.save(update_fields=["status", "sent_at", "updated_at"])
        elif not (locked.status == Refund.Status.SENT and not locked.provider_reference):
            # Already answered by the provider, or not approved: nothing to send.
            return locked.provider_reference
    payment = refund.payment
    assert payment is not None
    provider = get_provider(payment.provider)
    try:
        reference = provider.refund(
            payment=payment,
            amount_cents=locked.money_cents,
            idempotency_key=f"refund-{locked.public_id}-{locked.attempt}",
            metadata={"refund": str(locked.public_id), "attempt": str(locked.attempt)},
        )
    except PaymentError as exc:
        _fail(locked.pk, failure=str(exc.message), now=now)
        return ""
    with transaction.atomic():
        ticket_locking.lock_order(locked.order_id)
        again = locking.lock_refund(locked.pk)
        if not again.provider_reference:
            again.provider_reference = reference
            again.save(update_fields=["provider_reference", "updated_at"])
            audit_record(
                action="refund.sent",
                subject=again,
                data={"provider": provider.name, "reference": reference, "attempt": again.attempt},
                now=now,
            )
    if provider.name == "demo":
        refund_provider_update(provider_reference=reference, succeeded=True, now=now)
    return reference


def _fail(refund_id: int, *, failure: str, now: dt.datetime) -> None:
    with transaction.atomic():
        refund = Refund.objects.get(pk=refund_id)
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund_id)
        if locked.status != Refund.Status.SENT:
            return
        locked.status = Refund.Status.FAILED
        locked.failed_at = now
        locked.failure = failure[:500]
        locked.save(update_fields=["status", "failed_at", "failure", "updated_at"])
        audit_record(
            action="refund.failed", subject=locked, data={"failure": failure[:500]}, now=now
        )


def refund_on_provider_event(provider_name: str, event) -> bool:
    """Listener for verified "refund.updated" provider events; True if the refund is ours.

    Pending refunds are acknowledged; succeeded ones are confirmed; failed or canceled
    ones are marked failed, retryable by staff.
    """
    extra = event.extra or {}
    status = extra.get("status", "")
    reference = extra.get("refund", "")
    public_id = extra.get("refund_public_id", "")
    if not reference:
        return False
    known = Refund.objects.filter(provider_reference=reference).exists() or bool(public_id)
    if not known:
        return False
    if status not in ("succeeded", "failed", "canceled"):
        return True  # pending or requires_action: the final event follows
    refund_provider_update(
        provider_reference=reference,
        refund_public_id=public_id,
        succeeded=status == "succeeded",
        failure=extra.get("failure_reason", "") or status,
    )
    return True


def refund_provider_update(
    *,
    provider_reference: str,
    succeeded: bool,
    failure: str = "",
    refund_public_id: str = "",
    now: dt.datetime | None = None,
) -> bool:
    """The provider says what became of a refund; returns True if it changed anything.

    Found by the provider's refund id, or by our id in the refund's metadata when the
    event overtakes the recording of the provider's id. Moves SENT to SUCCEEDED or FAILED
    only, so a replayed or late event does nothing.
    Side effects: status, order status, audit, an e-mail to the buyer on success.
    """
    now = now or timezone.now()
    if not provider_reference:
        return False
    refund = Refund.objects.filter(provider_reference=provider_reference).first()
    if refund is None and refund_public_id:
        try:
            refund = Refund.objects.filter(public_id=refund_public_id).first()
        except ValidationError:
            refund = None
    if refund is None:
        return False
    with transaction.atomic():
        order = ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.SENT:
            return False
        if locked.provider_reference and locked.provider_reference != provider_reference:
            # An event about an earlier attempt of this refund: not this attempt's answer.
            return False
        locked.provider_reference = provider_reference
        if succeeded:
            locked.status = Refund.Status.SUCCEEDED
            locked.succeeded_at = now
            locked.closed_at = now
            locked.save(
                update_fields=[
                    "status",
                    "succeeded_at",
                    "closed_at",
                    "provider_reference",
                    "updated_at",
                ]
            )
            _settle_order(order, now=now)
            audit_record(
                action="refund.succeeded",
                subject=locked,
                data={"reference": provider_reference, "amount_cents": locked.amount_cents},
                now=now,
            )
            _mail(locked, template="paid", key="paid")
        else:
            locked.status = Refund.Status.FAILED
            locked.failed_at = now
            locked.failure = (failure or "refused by the provider")[:500]
            locked.save(
                update_fields=[
                    "status",
                    "failed_at",
                    "failure",
                    "provider_reference",
                    "updated_at",
                ]
            )
            audit_record(
                action="refund.failed",
                subject=locked,
                data={"reference": provider_reference, "failure": locked.failure},
                now=now,
            )
    return True


def refund_retry(*, refund: Refund, actor, now: dt.datetime | None = None) -> Refund:
    """Staff try a failed refund again: a new attempt (and idempotency key) is started.

    A failed card refund may be switched to a bank transfer by ``to_bank=True`` callers
    through ``refund_switch_to_bank``. Side effects: status, audit, a send task.
    Raises: RefundError when the refund has not failed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.FAILED:
            raise RefundError(_("Only a failed refund can be tried again."))
        locked.status = Refund.Status.APPROVED
        locked.attempt += 1
        locked.provider_reference = ""
        locked.transfer_batch = None
        locked.failure = ""
        locked.save()
        audit_record(
            action="refund.retried",
            subject=locked,
            actor=actor,
            data={"attempt": locked.attempt},
            now=now,
        )
        if locked.method in (Refund.Method.STRIPE, Refund.Method.DEMO):
            from refunds.tasks import send_refund

            refund_id = locked.pk
            transaction.on_commit(lambda: send_refund.delay(refund_id))
    return locked


def refund_switch_to_bank(*, refund: Refund, actor, now: dt.datetime | None = None) -> Refund:
    """A card refund Stripe cannot make (card closed, too old) becomes a bank transfer.

    Side effects: method, status back to APPROVED, audit, an e-mail asking for an IBAN.
    Raises: RefundError unless the refund is a failed card refund.
    """
    now = now or timezone.now()
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.status != Refund.Status.FAILED or locked.method not in (
            Refund.Method.STRIPE,
            Refund.Method.DEMO,
        ):
            raise RefundError(_("Only a failed card refund can be paid by bank transfer."))
        locked.method = Refund.Method.BANK_TRANSFER
        locked.status = Refund.Status.APPROVED
        locked.attempt += 1
        locked.provider_reference = ""
        locked.failure = ""
        locked.save()
        audit_record(
            action="refund.switched_to_bank", subject=locked, actor=actor, data={}, now=now
        )
        _mail(locked, template="bank_details_needed", key=f"bank_details_needed:{locked.attempt}")
    return locked


def refund_bank_details_set(
    *,
    refund: Refund,
    account_holder: str,
    iban: str,
    bic: str = "",
    actor=None,
    now: dt.datetime | None = None,
) -> Refund:
    """The buyer (or a clerk) gives the account a bank refund is paid to.

    Accepted while the refund is offered (choosing a refund at the same time), approved
    and not yet in a transfer file, or failed (a bounced transfer: it is approved again).
    Side effects: bank details stored (their own retention), status, audit (no IBAN in it).
    Raises: django ValidationError for a wrong IBAN/BIC/holder; RefundError otherwise.
    """
    from refunds.iban import bank_details_clean

    now = now or timezone.now()
    details = bank_details_clean(account_holder=account_holder, iban=iban, bic=bic)
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        if locked.method != Refund.Method.BANK_TRANSFER:
            raise RefundError(_("This refund goes back to the card you paid with."))
        if locked.status not in (
            Refund.Status.OFFERED,
            Refund.Status.APPROVED,
            Refund.Status.FAILED,
            Refund.Status.REQUESTED,
        ) or (locked.status == Refund.Status.APPROVED and locked.transfer_batch_id):
            raise RefundError(_("The transfer is already on its way; the account can't change."))
        locked.account_holder = details.account_holder
        locked.iban = details.iban
        locked.bic = details.bic
        locked.bank_details_at = now
        if locked.status == Refund.Status.FAILED:
            locked.status = Refund.Status.APPROVED
            locked.attempt += 1
            locked.transfer_batch = None
            locked.failure = ""
        locked.save()
        audit_record(
            action="refund.bank_details_given",
            subject=locked,
            actor=actor,
            actor_label="" if actor else "buyer",
            data={"country": details.iban[:2]},
            now=now,
        )
        if locked.status == Refund.Status.OFFERED:
            locked.choice = Choice.REFUND
            _approve(locked, actor=actor, now=now)
    return locked


def refund_paid_at_desk(*, refund: Refund, actor, now: dt.datetime | None = None) -> Refund:
    """A clerk paid an approved bank refund back in cash at the desk.

    Side effects: method CASH, status SUCCEEDED, order status, audit.
    Raises: RefundError unless the refund is an approved bank refund not yet in a file.
    """
    now = now or timezone.now()
    with transaction.atomic():
        order = ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        # Approved and not in a file yet, or a transfer the bank sent back (failed).
        payable = (locked.status == Refund.Status.APPROVED and not locked.transfer_batch_id) or (
            locked.status == Refund.Status.FAILED
        )
        if not payable or locked.method != Refund.Method.BANK_TRANSFER:
            raise RefundError(
                _("Only an approved bank refund not yet exported can be paid in cash.")
            )
        locked.method = Refund.Method.CASH
        locked.status = Refund.Status.SUCCEEDED
        locked.succeeded_at = now
        locked.closed_at = now
        locked.save()
        _settle_order(order, now=now)
        audit_record(
            action="refund.paid_in_cash",
            subject=locked,
            actor=actor,
            data={"amount_cents": locked.amount_cents},
            now=now,
        )
    return locked


def refunds_resend_stale(*, now: dt.datetime | None = None, older_than_minutes: int = 10) -> int:
    """Send again card refunds claimed but never answered (a worker died mid-call).

    The same idempotency key is used, so the provider returns the refund it already made.
    Side effects: send tasks queued. Returns how many.
    """
    now = now or timezone.now()
    from refunds.tasks import send_refund

    ids = list(
        Refund.objects.filter(
            status=Refund.Status.SENT,
            provider_reference="",
            method__in=[Refund.Method.STRIPE, Refund.Method.DEMO],
            sent_at__lt=now - dt.timedelta(minutes=older_than_minutes),
        ).values_list("pk", flat=True)
    )
    for refund_id in ids:
        send_refund.delay(refund_id)
    return len(ids)
