"""Money going back through the payment provider: sending a card refund once per attempt,
the provider's answer by webhook, retries, switching to a bank transfer, stale sends.

Nothing here talks to a provider while a lock is held.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from refunds import locking
from refunds.errors import RefundError
from refunds.models import Refund
from refunds.services.refund_common import (
    _mail,
    _settle_order,
)
from ticketing import locking as ticket_locking
from ticketing.errors import PaymentError
from ticketing.payments import get_provider

logger = logging.getLogger(__name__)


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
