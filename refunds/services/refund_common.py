"""What every step of a refund's life shares: where money goes back, the buyer's e-mails,
voiding tickets, settling the order, and approval.

Every change of state takes the order's row lock, then the refund's, re-reads the status
and moves it forward only from the states it allows, so a double click, a retried task or
a replayed webhook changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.urls import reverse
from django.utils import timezone, translation

from museum.audit import audit_record
from museum.emails import EmailToQueue, email_enqueue, email_enqueue_many
from refunds.models import Choice, Refund
from ticketing.models import Order, Payment, Ticket

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
