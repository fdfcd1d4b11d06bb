"""One refund's life: a buyer's request and staff's decision, bank details, cash at the desk.

Every change of state takes the order's row lock, then the refund's, re-reads the status
and moves it forward only from the states it allows, so a double click, a retried task or
a replayed webhook changes nothing the second time. The shared steps are in
``refund_common``, the buyer's answer to a cancellation in ``refund_offers``, the
provider's side in ``refund_payouts``; this module re-exports their services, so callers
import everything about a refund from here.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from refunds import locking
from refunds.errors import RefundError
from refunds.models import Choice, Refund
from refunds.services.refund_common import (
    OPEN_MONEY_STATES,
    PayoutPath,
    _approve,
    _mail,
    _mail_context,
    _refunded_elsewhere,
    _settle_order,
    _void_tickets,
    payout_path,
    refund_path_for,
    refund_public_path,
    refunds_mail_many,
)
from ticketing import locking as ticket_locking
from ticketing.models import Order, Ticket

logger = logging.getLogger(__name__)


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


# The buyer's choice and the provider's side live in their own modules; every caller
# imports a refund's services from here.
from refunds.services.refund_offers import (  # noqa: E402
    _issue_voucher,
    _rebook,
    rebook_slots,
    refund_choose,
    refunds_apply_defaults,
)
from refunds.services.refund_payouts import (  # noqa: E402
    _fail,
    refund_on_provider_event,
    refund_provider_update,
    refund_retry,
    refund_send,
    refund_switch_to_bank,
    refunds_resend_stale,
)

__all__ = [
    "OPEN_MONEY_STATES",
    "PayoutPath",
    "_approve",
    "_fail",
    "_issue_voucher",
    "_mail",
    "_mail_context",
    "_rebook",
    "_refunded_elsewhere",
    "_settle_order",
    "_void_tickets",
    "payout_path",
    "rebook_slots",
    "refund_approve",
    "refund_bank_details_set",
    "refund_choose",
    "refund_on_provider_event",
    "refund_paid_at_desk",
    "refund_path_for",
    "refund_provider_update",
    "refund_public_path",
    "refund_refuse",
    "refund_request",
    "refund_retry",
    "refund_send",
    "refund_switch_to_bank",
    "refunds_apply_defaults",
    "refunds_mail_many",
    "refunds_resend_stale",
]
