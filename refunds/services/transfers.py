"""Refunds paid by bank transfer: the SEPA file for the bank, then what the bank did.

The finance user exports every approved bank refund that has its bank details into one
pain.001 file (``transfer_batch_export``), uploads it to the museum's bank, and marks the
batch paid once the bank statement shows it (``transfer_batch_mark_paid``). A transfer
the bank sends back (a closed account, a wrong name) fails alone
(``transfer_batch_reject_transfer``); the buyer corrects their details and the refund is
tried again by ``refunds.services.refunds.refund_retry``, in a later batch.

A refund is never in two files: it is claimed (APPROVED to SENT, with its batch) under
its row lock, in the transaction that creates the batch. Locks follow the app's order:
orders first, then refunds, each in primary-key order; marking paid locks the batch
first, and nothing else locks a batch.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from museum.audit import audit_record
from refunds import locking
from refunds.errors import RefundError
from refunds.models import Refund, TransferBatch
from refunds.sepa import (
    SepaTextError,
    Transfer,
    debtor_from_settings,
    end_to_end_id,
    new_message_id,
    pain001_build,
    sepa_latin,
)
from ticketing import locking as ticket_locking
from ticketing.models import Order

__all__ = [
    "TransferError",
    "transfer_batch_export",
    "transfer_batch_mark_paid",
    "transfer_batch_reject_transfer",
    "transfers_due",
]

logger = logging.getLogger(__name__)

# A SEPA credit transfer is in euros; refunds in another currency cannot go in the file.
SEPA_CURRENCY = "EUR"
# The refunds of an order that still owe money: the order is not refunded while one is.
STILL_OWED = (Refund.Status.APPROVED, Refund.Status.SENT, Refund.Status.FAILED)


class TransferError(RefundError):
    """A bank transfer step said no; nothing changed."""

    default_message = gettext_lazy("This bank transfer cannot be changed any more.")


def transfers_due():
    """The refunds the next file would pay: approved bank refunds in euros, with their
    bank details, in no batch yet, with money to pay (``money_cents`` > 0); oldest first.
    No side effects."""
    return (
        Refund.objects.filter(
            method=Refund.Method.BANK_TRANSFER,
            status=Refund.Status.APPROVED,
            transfer_batch__isnull=True,
            # Money is owed: the part that did not go back to a voucher.
            amount_cents__gt=F("voucher_cents"),
            currency=SEPA_CURRENCY,
        )
        .exclude(iban="")
        .exclude(account_holder="")
        .order_by("pk")
    )


def _default_execution_date(now: dt.datetime) -> dt.date:
    """Today in the museum's time zone, or the Monday after it on a weekend."""
    day = timezone.localdate(now)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def transfer_batch_export(
    *,
    actor,
    execution_date: dt.date | None = None,
    now: dt.datetime | None = None,
) -> TransferBatch | None:
    """Put every refund due (``transfers_due``) into one new SEPA file; returns its batch,
    or None when nothing is due.

    A refund whose holder's name cannot be written in the SEPA character set (only
    possible for details typed past ``refunds.iban``) is left out, stays APPROVED and is
    logged. ``execution_date`` defaults to today (the Monday after, on a weekend).
    Side effects, in one transaction: a TransferBatch holding the XML; each refund SENT
    with ``sent_at`` and its batch; an audit event per refund (``refund.sent``) and one
    for the batch (``transfer_batch.exported``).
    Raises: TransferError for an execution date in the past, or when the museum's own
    account (the debtor) is not configured.
    """
    now = now or timezone.now()
    if not (settings.REFUNDS_DEBTOR_IBAN and settings.REFUNDS_DEBTOR_NAME):
        raise TransferError(
            _(
                "The museum's account is not set: REFUNDS_DEBTOR_NAME and REFUNDS_DEBTOR_IBAN "
                "are needed before a transfer file can be made."
            )
        )
    execution_date = execution_date or _default_execution_date(now)
    if execution_date < timezone.localdate(now):
        raise TransferError(_("The execution date cannot be in the past."))
    with transaction.atomic():
        order_ids = sorted(set(transfers_due().values_list("order_id", flat=True)))
        if not order_ids:
            return None
        # Orders first, then refunds, as every refunds service does. A second export
        # waiting here sees, once it has the locks, that these refunds are taken.
        list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
        refunds = list(
            transfers_due()
            .filter(order_id__in=order_ids)
            .select_for_update(of=("self",))
            .select_related("order")
        )
        transfers: list[Transfer] = []
        chosen: list[Refund] = []
        for refund in refunds:
            try:
                transfers.append(_transfer(refund))
            except SepaTextError as error:
                logger.warning("Refund %s left out of the transfer file: %s", refund.pk, error)
                continue
            chosen.append(refund)
        if not chosen:
            return None
        message_id = new_message_id(now)
        xml = pain001_build(
            message_id=message_id,
            created_at=now,
            execution_date=execution_date,
            debtor=debtor_from_settings(),
            transfers=transfers,
        )
        total = sum(refund.money_cents for refund in chosen)
        batch = TransferBatch.objects.create(
            message_id=message_id,
            count=len(chosen),
            total_cents=total,
            currency=SEPA_CURRENCY,
            execution_date=execution_date,
            xml=xml.decode("utf-8"),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        Refund.objects.filter(pk__in=[refund.pk for refund in chosen]).update(
            status=Refund.Status.SENT, sent_at=now, transfer_batch=batch, updated_at=now
        )
        for refund, transfer in zip(chosen, transfers, strict=True):
            audit_record(
                action="refund.sent",
                subject=refund,
                actor=actor,
                data={
                    "order": refund.order.code,
                    "amount_cents": refund.money_cents,
                    "transfer_batch": message_id,
                    "end_to_end_id": transfer.end_to_end_id,
                },
                now=now,
            )
        audit_record(
            action="transfer_batch.exported",
            subject=batch,
            actor=actor,
            data={
                "message_id": message_id,
                "count": batch.count,
                "total_cents": total,
                "execution_date": execution_date.isoformat(),
                "left_out": len(refunds) - len(chosen),
            },
            now=now,
        )
    return batch


def _transfer(refund: Refund) -> Transfer:
    """The credit transfer of one refund. Raises: SepaTextError for an unwritable name."""
    sepa_latin(refund.account_holder)  # fail here, for this refund only
    return Transfer(
        end_to_end_id=end_to_end_id(order_code=refund.order.code, refund_pk=refund.pk),
        amount_cents=refund.money_cents,
        creditor_name=refund.account_holder,
        creditor_iban=refund.iban,
        creditor_bic=refund.bic,
        remittance=f"Refund order {refund.order.code}",
    )


def transfer_batch_mark_paid(
    *, batch: TransferBatch, actor, now: dt.datetime | None = None
) -> TransferBatch:
    """The bank has paid the file: the batch is PAID and its transfers succeeded.

    Transfers the bank sent back before (FAILED) stay failed. An order whose money is no
    longer owed by any refund (none APPROVED, SENT or FAILED) and that waited for a refund
    becomes REFUNDED.
    Side effects, in one transaction: batch status, ``paid_at``, ``paid_by``; each SENT
    refund SUCCEEDED with ``succeeded_at`` and ``closed_at``; order statuses; an audit
    event per refund (``refund.succeeded``) and one for the batch (``transfer_batch.paid``).
    Raises: TransferError when the batch is already marked paid (nothing changes).
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = TransferBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == TransferBatch.Status.PAID:
            raise TransferError(
                _("This transfer file was already marked paid on %(date)s.")
                % {"date": timezone.localtime(locked.paid_at).strftime("%Y-%m-%d %H:%M")}
            )
        order_ids = sorted(
            set(Refund.objects.filter(transfer_batch=locked).values_list("order_id", flat=True))
        )
        orders = list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
        refunds = list(
            Refund.objects.filter(transfer_batch=locked, status=Refund.Status.SENT)
            .select_for_update(of=("self",))
            .select_related("order")
            .order_by("pk")
        )
        Refund.objects.filter(pk__in=[refund.pk for refund in refunds]).update(
            status=Refund.Status.SUCCEEDED, succeeded_at=now, closed_at=now, updated_at=now
        )
        locked.status = TransferBatch.Status.PAID
        locked.paid_at = now
        locked.paid_by = actor if getattr(actor, "is_authenticated", False) else None
        locked.save(update_fields=["status", "paid_at", "paid_by", "updated_at"])
        from refunds.services.refunds import _mail

        for refund in refunds:
            audit_record(
                action="refund.succeeded",
                subject=refund,
                actor=actor,
                data={
                    "order": refund.order.code,
                    "amount_cents": refund.money_cents,
                    "transfer_batch": locked.message_id,
                },
                now=now,
            )
            refund.status = Refund.Status.SUCCEEDED
            _mail(refund, template="paid", key="paid")  # the buyer hears the money left
        paid_orders = {refund.order_id for refund in refunds}
        for order in orders:
            if order.pk in paid_orders:
                _order_refunded_if_settled(order, now=now)
        audit_record(
            action="transfer_batch.paid",
            subject=locked,
            actor=actor,
            data={
                "message_id": locked.message_id,
                "succeeded": len(refunds),
                "total_cents": sum(refund.money_cents for refund in refunds),
            },
            now=now,
        )
    return locked


def _order_refunded_if_settled(order: Order, *, now: dt.datetime) -> None:
    """A locked order waiting for its refund is REFUNDED once no refund still owes money."""
    if order.status != Order.Status.REFUND_PENDING:
        return
    if order.refunds.filter(status__in=STILL_OWED).exists():
        return
    order.status = Order.Status.REFUNDED
    order.save(update_fields=["status", "updated_at"])


def transfer_batch_reject_transfer(
    *, refund: Refund, reason: str, actor, now: dt.datetime | None = None
) -> Refund:
    """The bank sent one transfer of a file back: the refund FAILED, with the bank's reason.

    The refund keeps its batch (the file did carry it); the buyer may correct their bank
    details and staff retry it (``refund_retry``), which puts it in a later file. The
    batch itself is not locked: marking it paid skips a refund that is no longer SENT.
    Side effects: status, ``failed_at``, ``failure``; an audit event (``refund.failed``).
    Raises: TransferError when the refund is not a bank transfer sent in a file, or the
    reason is empty.
    """
    now = now or timezone.now()
    reason = " ".join((reason or "").split())
    if not reason:
        raise TransferError(_("Say why the bank sent the transfer back."), field="reason")
    with transaction.atomic():
        ticket_locking.lock_order(refund.order_id)
        locked = locking.lock_refund(refund.pk)
        batch = locked.transfer_batch
        if (
            locked.method != Refund.Method.BANK_TRANSFER
            or locked.status != Refund.Status.SENT
            or batch is None
        ):
            raise TransferError(
                _("Only a bank transfer sent in a file and not yet paid can be sent back.")
            )
        locked.status = Refund.Status.FAILED
        locked.failed_at = now
        locked.failure = reason[:500]
        locked.save(update_fields=["status", "failed_at", "failure", "updated_at"])
        audit_record(
            action="refund.failed",
            subject=locked,
            actor=actor,
            data={
                "order": locked.order.code,
                "transfer_batch": batch.message_id,
                "failure": locked.failure,
            },
            now=now,
        )
    return locked
