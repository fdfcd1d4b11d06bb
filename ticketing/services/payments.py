"""Starting payments, acting on provider events exactly once, refunding."""

from __future__ import annotations

import datetime as dt
import logging
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from museum.emails import email_enqueue
from ticketing import locking
from ticketing.errors import OrderNotPayable, PaymentError
from ticketing.models import Order, Payment, Ticket, WebhookEvent
from ticketing.payments import ProviderEvent, get_provider
from ticketing.services.orders import _issue, order_public_path, order_try_reclaim_seats

logger = logging.getLogger(__name__)


class Outcome(StrEnum):
    PAID = "paid"
    DUPLICATE_EVENT = "duplicate_event"
    ALREADY_HANDLED = "already_handled"
    REFUNDING = "refunding"
    FAILED = "failed"
    REFUNDED = "refunded"
    IGNORED = "ignored"
    # A refund about a payment we cannot match yet (its success has not arrived): kept,
    # and applied when the payment's success arrives, whatever the order of delivery.
    REFUND_DEFERRED = "refund_deferred"
    # A refund made by the refunds app moved on (succeeded, failed): that app acted on it.
    REFUND_UPDATED = "refund_updated"


def payment_start(
    *, order: Order, success_url: str, cancel_url: str, now: dt.datetime | None = None
) -> Payment:
    """Start (or resume) paying a held order at the configured provider.

    The amount is what is due with money (``Order.due_cents``: the total less vouchers).
    A started payment that is still open and for that amount is reused, so a double
    click opens one session.
    No lock is held during the provider call. Side effects: a Payment row.
    Raises: OrderNotPayable (hold expired, already paid), PaymentError (provider down).
    """
    now = now or timezone.now()
    order.refresh_from_db()
    if order.status != Order.Status.PENDING or (
        order.hold_expires_at is not None and order.hold_expires_at <= now
    ):
        raise OrderNotPayable(
            _("Your places were held for %(n)d minutes and have been released. Please start again.")
            % {"n": settings.TICKETING["HOLD_MINUTES"]}
        )
    if order.due_cents <= 0:
        # Vouchers pay it all: voucher_apply issued it (or will have, once committed).
        raise OrderNotPayable(_("Nothing is left to pay on this order."))
    provider = get_provider()
    open_payment = (
        order.payments.filter(provider=provider.name, status=Payment.Status.STARTED)
        .order_by("-created_at")
        .first()
    )
    # A session started for another amount (a voucher was applied since) is not reused:
    # if the buyer pays it anyway, the amount no longer matches and the money goes back.
    if (
        open_payment is not None
        and open_payment.redirect_url
        and open_payment.amount_cents == order.due_cents
    ):
        return open_payment
    attempt = order.payments.count() + 1
    try:
        started = provider.start(
            order=order,
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=f"checkout-{order.code}-{attempt}",
        )
    except PaymentError:
        raise
    except Exception as exc:
        logger.exception("payment provider failed to start a payment for %s", order.code)
        raise PaymentError() from exc
    payment = Payment.objects.create(
        order=order,
        provider=provider.name,
        reference=started.reference,
        payment_intent=started.payment_intent,
        amount_cents=order.due_cents,
        currency=order.currency,
        redirect_url=started.redirect_url,
    )
    return payment


def payment_event_handle(
    *, provider_name: str, event: ProviderEvent, now: dt.datetime | None = None
) -> Outcome:
    """Act on one verified provider event, once per event id, in any order of arrival.

    A success pays the order if the amount and currency match what is due (the total
    less vouchers) and the seats are still held or still free; otherwise the money is
    refunded, the buyer told and an unpaid order's vouchers released. Failures and
    refunds update the payment only in a forward direction, so late or repeated events
    change nothing. Side effects: WebhookEvent row, order/ticket/payment status, audit,
    e-mail, a refund task after commit.
    """
    now = now or timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = WebhookEvent.objects.create(
                    provider=provider_name,
                    event_id=event.event_id,
                    event_type=event.raw_type or event.event_type,
                    payment_intent=event.payment_intent,
                    created=event.created,
                )
        except IntegrityError:
            return Outcome.DUPLICATE_EVENT
        outcome = _dispatch(provider_name, event, now)
        record.outcome = outcome
        record.save(update_fields=["outcome"])
    return outcome


def _dispatch(provider_name: str, event: ProviderEvent, now: dt.datetime) -> Outcome:
    if event.event_type == "refund.updated":
        from ticketing.payments.base import refund_listeners

        known = any(listener(provider_name, event) for listener in refund_listeners)
        return Outcome.REFUND_UPDATED if known else Outcome.IGNORED
    if event.event_type == "ignored" or not event.reference and not event.payment_intent:
        return Outcome.IGNORED
    payment = _find_payment(provider_name, event)
    if payment is None:
        if event.event_type == "refund.succeeded" and event.payment_intent:
            return Outcome.REFUND_DEFERRED
        logger.warning("event %s names no known payment", event.event_id)
        return Outcome.IGNORED
    if event.event_type == "payment.succeeded":
        return _on_success(payment, event, now)
    if event.event_type == "payment.failed":
        updated = Payment.objects.filter(pk=payment.pk, status=Payment.Status.STARTED).update(
            status=Payment.Status.FAILED, updated_at=now
        )
        return Outcome.FAILED if updated else Outcome.ALREADY_HANDLED
    if event.event_type == "refund.succeeded":
        return _on_refunded(payment, now)
    return Outcome.IGNORED


def _find_payment(provider_name: str, event: ProviderEvent) -> Payment | None:
    qs = Payment.objects.filter(provider=provider_name)
    if event.reference:
        found = qs.filter(reference=event.reference).first()
        if found is not None:
            return found
    if event.payment_intent:
        return qs.filter(payment_intent=event.payment_intent).first()
    return None


def _on_success(payment: Payment, event: ProviderEvent, now: dt.datetime) -> Outcome:
    order = locking.lock_order(payment.order_id)
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if event.payment_intent and not payment.payment_intent:
        payment.payment_intent = event.payment_intent
    if payment.status in (
        Payment.Status.SUCCEEDED,
        Payment.Status.REFUND_REQUESTED,
        Payment.Status.REFUNDED,
    ):
        payment.save(update_fields=["payment_intent", "updated_at"])
        return Outcome.ALREADY_HANDLED
    amount_ok = event.amount_cents == order.due_cents and (
        event.currency.upper() == order.currency.upper()
    )
    if not amount_ok:
        reason = "amount_mismatch"
    elif order.status == Order.Status.PAID:
        reason = "order_already_paid"
    elif (
        order.status == Order.Status.PENDING
        and order.hold_expires_at
        and order.hold_expires_at > now
    ):
        reason = ""
    elif order.status in (Order.Status.PENDING, Order.Status.EXPIRED):
        reason = "" if order_try_reclaim_seats(order, now) else "seats_gone"
    else:
        reason = "order_closed"
    if not reason:
        payment.status = Payment.Status.SUCCEEDED
        payment.save(update_fields=["status", "payment_intent", "updated_at"])
        _issue(order, payment_method=payment.provider, now=now)
        if _refund_already_reported(payment):
            return _on_refunded(payment, now)
        return Outcome.PAID
    # The money arrived but cannot buy these seats: give it back and tell the buyer.
    payment.status = Payment.Status.REFUND_REQUESTED
    payment.amount_cents = event.amount_cents
    payment.save(update_fields=["status", "payment_intent", "amount_cents", "updated_at"])
    if order.status != Order.Status.PAID:
        order.status = Order.Status.REFUND_PENDING
        order.hold_expires_at = None
        order.save(update_fields=["status", "hold_expires_at", "updated_at"])
        order.tickets.exclude(status=Ticket.Status.CANCELLED).update(
            status=Ticket.Status.CANCELLED, cancelled_at=now
        )
        if order.voucher_cents:
            # Never paid: what vouchers had paid goes back to them.
            from refunds.services.vouchers import vouchers_release_for_orders

            vouchers_release_for_orders(order_ids=[order.pk], now=now)
    audit_record(
        action="payment.refund_requested",
        subject=order,
        data={"payment": payment.reference, "reason": reason, "amount_cents": event.amount_cents},
        now=now,
    )
    if order.email and reason == "seats_gone":
        email_enqueue(
            dedupe_key=f"ticketing.late_payment_refund:{payment.pk}",
            to=order.email,
            template="ticketing/late_payment_refund",
            context={
                "order_code": order.code,
                "name": order.name,
                "amount": payment.amount_cents / 100,
                "order_url": settings.SITE_URL + order_public_path(order),
            },
            language=order.language,
        )
    from ticketing.tasks import refund_payment

    payment_id = payment.pk
    transaction.on_commit(lambda: refund_payment.delay(payment_id))
    return Outcome.REFUNDING


def _refund_already_reported(payment: Payment) -> bool:
    return (
        bool(payment.payment_intent)
        and WebhookEvent.objects.filter(
            provider=payment.provider,
            payment_intent=payment.payment_intent,
            outcome=Outcome.REFUND_DEFERRED,
        ).exists()
    )


def _on_refunded(payment: Payment, now: dt.datetime) -> Outcome:
    """The provider confirms the money went back: the payment's tickets stop admitting."""
    order = locking.lock_order(payment.order_id)
    updated = Payment.objects.filter(
        pk=payment.pk,
        status__in=[Payment.Status.REFUND_REQUESTED, Payment.Status.SUCCEEDED],
    ).update(status=Payment.Status.REFUNDED, updated_at=now)
    if not updated:
        return Outcome.ALREADY_HANDLED
    if order.status == Order.Status.PAID:
        # Refunded outside the shop (e.g. in the provider's dashboard): void what is unused.
        order.tickets.filter(status=Ticket.Status.VALID, checked_in_at__isnull=True).update(
            status=Ticket.Status.CANCELLED, cancelled_at=now, updated_at=now
        )
    if order.status in (Order.Status.REFUND_PENDING, Order.Status.PAID):
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status", "updated_at"])
    audit_record(
        action="payment.refunded",
        subject=order,
        data={"payment": payment.reference, "amount_cents": payment.amount_cents},
        now=now,
    )
    return Outcome.REFUNDED


def payment_refund(*, payment_id: int, now: dt.datetime | None = None) -> str:
    """Ask the provider to refund a payment whose refund was requested; safe to repeat.

    The idempotency key is derived from the payment, so a retried task never refunds
    twice. The demo provider confirms at once; Stripe confirms by webhook.
    Side effects: provider call (outside any lock), Payment.refund_reference.
    Raises: PaymentError from the provider (the task retries).
    """
    now = now or timezone.now()
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.status != Payment.Status.REFUND_REQUESTED:
        return payment.refund_reference
    provider = get_provider(payment.provider)
    reference = provider.refund(
        payment=payment,
        amount_cents=payment.amount_cents,
        idempotency_key=f"refund-{payment.reference}",
    )
    Payment.objects.filter(pk=payment.pk).update(refund_reference=reference, updated_at=now)
    if provider.name == "demo":
        with transaction.atomic():
            _on_refunded(payment, now)
    return reference
