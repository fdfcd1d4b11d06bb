"""The personal museum card: selling, applying paid purchases, gifts and ending.

Scans at the entrance live in ``accounts.services.card_scans``.

A card is bought in a ticketing ``Order`` (no site, no tickets) with one ``CardPurchase``
line; the order is paid through the ticket shop's own path (``ticketing.services.orders
._issue``), which calls ``card_purchases_apply``. Validity starts at the card's first
scan at a site that allows it: ``months_pending`` months from that day. Every admitted
scan writes exactly one ``CardVisit``, the basis of the network's settlement.

Locks, always in this order: the order (taken by the caller of ``_issue``), the card
purchases, then the card row. Placing a renewal locks the card first, but holds nothing
else then: the order and purchase rows it goes on to lock are its own, still uncommitted.
"""

from __future__ import annotations

import calendar
import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CardProduct, CardPurchase, MuseumCard
from museum.audit import audit_record
from museum.emails import email_enqueue
from ticketing.models import Order

MAX_GREETING = 1000


class CardError(Exception):
    """A rule of the museum card said no; ``message`` is translated and shown as is."""

    default_message = _("This request cannot be completed.")

    def __init__(self, message=None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(str(self.message))


@dataclass(frozen=True)
class CardGift:
    """What the buyer of a gift card tells us: who receives it, when, with which words."""

    recipient_email: str
    deliver_on: dt.date | None = None
    greeting: str = ""


# --- dates ------------------------------------------------------------------------------


def _add_months(day: dt.date, months: int) -> tuple[int, int]:
    index = day.year * 12 + (day.month - 1) + months
    return index // 12, index % 12 + 1


def validity_end(*, starts_on: dt.date, months: int) -> dt.date:
    """The last valid day of a period of ``months`` calendar months starting ``starts_on``.

    The period ends the day before the same date ``months`` later; when that date does
    not exist (a start on 29-31 into a shorter month) the period ends on the last day of
    that month: from 2024-02-29, 12 months end on 2025-02-28; from 2023-03-01 on
    2024-02-29; from 2026-01-01 on 2026-12-31.
    """
    year, month = _add_months(starts_on, months)
    last_day = calendar.monthrange(year, month)[1]
    if starts_on.day > last_day:
        return dt.date(year, month, last_day)
    return dt.date(year, month, starts_on.day) - dt.timedelta(days=1)


# --- e-mails ------------------------------------------------------------------------------


def card_public_path(card: MuseumCard) -> str:
    return reverse("cards:detail", kwargs={"token": card.access_token})


def _send_card(card: MuseumCard, *, key: str) -> None:
    """Queue the e-mail with the card's PDF to its holder (once per ``key``)."""
    if not card.holder_email:
        return
    email_enqueue(
        dedupe_key=f"accounts.card_issued:{card.pk}:{key}",
        to=card.holder_email,
        template="accounts/card_issued",
        context={
            "holder_name": card.holder_name,
            "number": card.number,
            "product_name": card.product.name,
            "card_url": settings.SITE_URL + card_public_path(card),
            "months": card.months_pending,
        },
        language=card.language,
        attachments=[{"kind": "accounts.card_pdf", "ref": str(card.pk)}],
    )


def _send_renewal(card: MuseumCard, *, purchase: CardPurchase, order: Order) -> None:
    """Queue the renewal e-mail to the address given with the renewal, else the card's.

    The renewal form asks for the address (prefilled with the card's): a card sold at
    the desk may have none, and whoever renews it says where the confirmation goes.
    """
    to = order.email or card.holder_email
    if not to:
        return
    email_enqueue(
        dedupe_key=f"accounts.card_renewed:{purchase.pk}",
        to=to,
        template="accounts/card_renewed",
        context={
            "holder_name": card.holder_name,
            "number": card.number,
            "valid_until": card.valid_until if card.status == MuseumCard.Status.ACTIVE else None,
            "months": purchase.months,
            "card_url": settings.SITE_URL + card_public_path(card),
        },
        language=card.language,
    )


def _send_gift(card: MuseumCard, *, buyer_name: str, now: dt.datetime) -> None:
    """Queue the gift e-mail to the recipient (once) and remember that it left."""
    email_enqueue(
        dedupe_key=f"accounts.card_gift:{card.pk}",
        to=card.gift_recipient_email,
        template="accounts/card_gift",
        context={
            "buyer_name": buyer_name,
            "greeting": card.gift_greeting,
            "product_name": card.product.name,
            "months": card.months_pending,
            "claim_url": settings.SITE_URL
            + reverse("cards:gift_claim", kwargs={"token": card.gift_claim_token}),
        },
        language=card.language,
    )
    card.gift_sent_at = now
    card.save(update_fields=["gift_sent_at", "updated_at"])


# --- selling ------------------------------------------------------------------------------


def _hold_duration() -> dt.timedelta:
    return dt.timedelta(minutes=settings.TICKETING["HOLD_MINUTES"])


def card_order_place(
    *,
    product: CardProduct,
    holder_name: str,
    holder_email: str,
    language: str,
    user=None,
    channel: str = Order.Channel.WEB,
    payment_method: str = "",
    created_by=None,
    gift: CardGift | None = None,
    renew_card: MuseumCard | None = None,
    now: dt.datetime | None = None,
) -> Order:
    """Order a new card, a gift card or a renewal, as a ticketing order without tickets.

    ``holder_name``/``holder_email`` are the holder's (printed on the card) for a new card,
    and the buyer's for a gift or a renewal (the order's contact). A web order with a
    price is held like a ticket order and paid through the shop's payment path; a desk
    sale or a free card is issued at once (``card_purchases_apply`` runs inside).
    Side effects: Order, CardPurchase and (new/gift) MuseumCard rows in AWAITING_PAYMENT,
    an audit event; when issued at once also what ``card_purchases_apply`` does.
    A renewal is refused, with nothing written, unless the card is NOT_ACTIVATED or
    ACTIVE (an expired active card included) when the order is placed; an ended card
    says so. (A card ended after the order, before its payment: see
    ``card_purchases_apply``.)
    Raises: CardError (product not on sale, missing name or e-mail, a delivery date in
    the past, a card that cannot be renewed).
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    holder_name = " ".join((holder_name or "").split())[:200]
    holder_email = (holder_email or "").strip().lower()
    if not product.is_active:
        raise CardError(_("This museum card is not on sale."), field="product")
    if not holder_name:
        raise CardError(_("Enter the name to print on the card."), field="holder_name")
    if not holder_email and channel == Order.Channel.WEB:
        raise CardError(_("Enter an e-mail address."), field="holder_email")
    if gift is not None and renew_card is not None:
        raise CardError(_("A renewal cannot be a gift."))
    if gift is not None:
        if not gift.recipient_email:
            raise CardError(_("Enter the recipient's e-mail address."), field="recipient_email")
        if gift.deliver_on is not None and gift.deliver_on < today:
            raise CardError(_("The delivery date cannot be in the past."), field="deliver_on")
        if gift.deliver_on is not None and gift.deliver_on > today + dt.timedelta(days=366):
            raise CardError(
                _("The delivery date must be within a year from today."), field="deliver_on"
            )
    total = product.price_cents
    pays_later = channel == Order.Channel.WEB and total > 0
    account = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        if renew_card is not None:
            # Read under the card's lock, not from the caller's copy: an ending that
            # commits first is seen here, and one that comes later waits for this order.
            renew_card = _renewable(renew_card)
        order = Order(
            site=None,
            channel=channel,
            language=language,
            user=account,
            created_by=created_by,
            total_cents=total,
            currency=settings.TICKETING["CURRENCY"],
            status=Order.Status.PENDING,
            hold_expires_at=now + _hold_duration() if pays_later else None,
            payment_method=payment_method if not pays_later else "",
        )
        order.set_buyer(email=holder_email, name=holder_name)
        order.save(force_insert=True)
        if renew_card is not None:
            card = renew_card
            kind = CardPurchase.Kind.RENEWAL
        elif gift is not None:
            card = MuseumCard.objects.create(
                product=product,
                language=language,
                is_gift=True,
                gift_recipient_email=gift.recipient_email.strip().lower(),
                gift_deliver_on=gift.deliver_on,
                gift_greeting=(gift.greeting or "").strip()[:MAX_GREETING],
            )
            kind = CardPurchase.Kind.GIFT
        else:
            card = MuseumCard.objects.create(
                product=product,
                holder_name=holder_name,
                holder_email=holder_email,
                holder=account,
                language=language,
            )
            kind = CardPurchase.Kind.NEW
        CardPurchase.objects.create(
            order=order,
            card=card,
            kind=kind,
            months=product.validity_months,
            price_cents=product.price_cents,
            vat_rate=product.vat_rate,
        )
        audit_record(
            action="order.placed",
            subject=order,
            actor=created_by,
            actor_label="" if created_by else "web",
            data={"total_cents": total, "channel": channel, "card": card.number, "kind": kind},
            now=now,
        )
        if not pays_later:
            from ticketing.services.orders import _issue

            _issue(order, payment_method=payment_method or Order.PaymentMethod.NONE, now=now)
    return order


def _renewable(card: MuseumCard) -> MuseumCard:
    """The card to renew, read again under its row lock; CardError if it cannot be."""
    locked = MuseumCard.objects.select_for_update().select_related("product").get(pk=card.pk)
    if locked.status == MuseumCard.Status.ENDED:
        raise CardError(_("This card has ended: it can no longer be renewed."))
    if locked.status not in (MuseumCard.Status.NOT_ACTIVATED, MuseumCard.Status.ACTIVE):
        raise CardError(_("This card cannot be renewed yet: it is not paid or not claimed."))
    return locked


def card_purchases_apply(*, order: Order, now: dt.datetime | None = None) -> int:
    """Apply the card lines of a paid order to their cards; returns how many were applied.

    NEW: the card waits for its first visit (NOT_ACTIVATED, the product's months pending)
    and its PDF is e-mailed to the holder. RENEWAL: an active card still valid today is
    extended by the months from the day after its current end; a lapsed or not yet
    activated card keeps the months for its next first visit. GIFT: the card waits for
    its recipient (AWAITING_HOLDER, a claim token) and the gift e-mail leaves on its
    delivery day (today, or later from ``card_gifts_send_due``). Applied lines are marked,
    so a second call changes nothing. Call inside the transaction that pays the order.

    A RENEWAL paid for a card that was ended after the order was placed (ordering an
    ended card is refused) changes nothing on the card and sends no renewal e-mail: the
    money was taken for nothing, so the audit event ``card.renewal_on_ended_card`` (with
    the order, the purchase and the amount) tells staff to refund it. Nothing is refunded
    automatically: the refunds app will take these events over.
    Side effects: card status and validity, CardPurchase.applied_at, audit events,
    outbox e-mails.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    applied = 0
    # No savepoint: this runs inside the payment's transaction for every paid order.
    with transaction.atomic(savepoint=False):
        purchases = list(
            CardPurchase.objects.select_for_update()
            .filter(order=order, applied_at__isnull=True)
            .order_by("pk")
        )
        for purchase in purchases:
            refund_due = False
            card = (
                MuseumCard.objects.select_for_update()
                .select_related("product")
                .get(pk=purchase.card_id)
            )
            before = {
                "status": card.status,
                "valid_until": card.valid_until.isoformat() if card.valid_until else None,
                "months_pending": card.months_pending,
            }
            if purchase.kind == CardPurchase.Kind.NEW:
                card.status = MuseumCard.Status.NOT_ACTIVATED
                card.months_pending = purchase.months
                card.save(update_fields=["status", "months_pending", "updated_at"])
                _send_card(card, key="new")
            elif purchase.kind == CardPurchase.Kind.GIFT:
                card.status = MuseumCard.Status.AWAITING_HOLDER
                card.months_pending = purchase.months
                card.gift_claim_token = "G" + secrets.token_urlsafe(24)
                card.save(
                    update_fields=["status", "months_pending", "gift_claim_token", "updated_at"]
                )
                if card.gift_deliver_on is None or card.gift_deliver_on <= today:
                    _send_gift(card, buyer_name=order.name, now=now)
            elif card.status == MuseumCard.Status.ENDED:
                # Ended while the renewal was being paid: nothing to extend, nothing to
                # tell the holder; the audit event below is the staff's cue to refund.
                refund_due = True
            elif (
                card.status == MuseumCard.Status.ACTIVE
                and card.valid_until is not None
                and card.valid_until >= today
            ):
                card.valid_until = validity_end(
                    starts_on=card.valid_until + dt.timedelta(days=1), months=purchase.months
                )
                card.save(update_fields=["valid_until", "updated_at"])
            else:
                # Lapsed or never activated: the months start at the next first visit.
                card.status = MuseumCard.Status.NOT_ACTIVATED
                card.months_pending += purchase.months
                card.save(update_fields=["status", "months_pending", "updated_at"])
            purchase.applied_at = now
            purchase.save(update_fields=["applied_at", "updated_at"])
            data = {
                "order": order.code,
                "purchase": purchase.pk,
                "before": before,
                "after": {
                    "status": card.status,
                    "valid_until": card.valid_until.isoformat() if card.valid_until else None,
                    "months_pending": card.months_pending,
                },
            }
            if refund_due:
                data["refund_due_cents"] = purchase.price_cents
                data["currency"] = order.currency
            audit_record(
                action=(
                    "card.renewal_on_ended_card" if refund_due else f"card.{purchase.kind}_paid"
                ),
                subject=card,
                data=data,
                now=now,
            )
            if purchase.kind == CardPurchase.Kind.RENEWAL and not refund_due:
                _send_renewal(card, purchase=purchase, order=order)
            applied += 1
    return applied


# --- gifts --------------------------------------------------------------------------------


def card_gifts_send_due(*, now: dt.datetime | None = None) -> int:
    """Send the gift e-mails whose delivery day has come; returns how many left now.

    Safe to run twice: a card is claimed for sending under its row lock and the e-mail's
    dedupe key is the card's. Side effects: outbox e-mails, MuseumCard.gift_sent_at.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    due = list(
        MuseumCard.objects.filter(
            status=MuseumCard.Status.AWAITING_HOLDER,
            gift_sent_at__isnull=True,
            gift_deliver_on__lte=today,
        ).values_list("pk", flat=True)[:1000]
    )
    sent = 0
    for card_id in due:
        with transaction.atomic():
            card = (
                MuseumCard.objects.select_for_update()
                .select_related("product")
                .filter(
                    pk=card_id, status=MuseumCard.Status.AWAITING_HOLDER, gift_sent_at__isnull=True
                )
                .first()
            )
            if card is None:
                continue
            purchase = (
                card.purchases.filter(kind=CardPurchase.Kind.GIFT).select_related("order").first()
            )
            _send_gift(card, buyer_name=purchase.order.name if purchase else "", now=now)
            sent += 1
    return sent


def card_gift_get_by_token(token: str) -> MuseumCard | None:
    """The unclaimed gift card behind a claim link, or None."""
    if not token or len(token) > 64:
        return None
    return (
        MuseumCard.objects.select_related("product")
        .filter(gift_claim_token=token, status=MuseumCard.Status.AWAITING_HOLDER)
        .first()
    )


def card_gift_claim(
    *, token: str, holder_name: str, user=None, now: dt.datetime | None = None
) -> MuseumCard:
    """The recipient takes a gift card into their own name; the claim link then dies.

    The card is the recipient's (holder e-mail: the address the gift was sent to; the
    account when signed in) and waits for its first visit. Side effects: card holder and
    status, claim token cleared, audit event, the card's e-mail with its PDF.
    Raises: CardError when the link is unknown or already used, or the name is empty.
    """
    now = now or timezone.now()
    holder_name = " ".join((holder_name or "").split())[:200]
    if not holder_name:
        raise CardError(_("Enter the name to print on the card."), field="holder_name")
    if not token or len(token) > 64:
        raise CardError(_("This gift link is not valid or has already been used."))
    with transaction.atomic():
        card = (
            MuseumCard.objects.select_for_update()
            .select_related("product")
            .filter(gift_claim_token=token, status=MuseumCard.Status.AWAITING_HOLDER)
            .first()
        )
        if card is None:
            raise CardError(_("This gift link is not valid or has already been used."))
        card.holder_name = holder_name
        card.holder_email = card.gift_recipient_email
        card.holder = user if getattr(user, "is_authenticated", False) else None
        card.status = MuseumCard.Status.NOT_ACTIVATED
        card.gift_claimed_at = now
        card.gift_claim_token = None
        card.save(
            update_fields=[
                "holder_name",
                "holder_email",
                "holder",
                "status",
                "gift_claimed_at",
                "gift_claim_token",
                "updated_at",
            ]
        )
        audit_record(
            action="card.gift_claimed",
            subject=card,
            actor=user,
            actor_label="" if card.holder else "gift recipient",
            data={"months_pending": card.months_pending},
            now=now,
        )
        _send_card(card, key="claimed")
    return card


# --- ending -------------------------------------------------------------------------------


def card_end(
    *, card: MuseumCard, reason: str, actor=None, now: dt.datetime | None = None
) -> MuseumCard:
    """End a card for good (erasure request, fraud, staff decision); scans then say ENDED.

    Ending an ended card changes nothing. The visits stay (they are settled with the
    museums); the privacy app decides what personal data to erase. Side effects: status,
    ended_at, end_reason, an unused gift link cleared, an audit event.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = MuseumCard.objects.select_for_update().get(pk=card.pk)
        if locked.status != MuseumCard.Status.ENDED:
            before = locked.status
            locked.status = MuseumCard.Status.ENDED
            locked.ended_at = now
            locked.end_reason = (reason or "")[:200]
            locked.gift_claim_token = None
            locked.save(
                update_fields=["status", "ended_at", "end_reason", "gift_claim_token", "updated_at"]
            )
            audit_record(
                action="card.ended",
                subject=locked,
                actor=actor,
                data={"reason": locked.end_reason, "status_before": before},
                now=now,
            )
    for field in ("status", "ended_at", "end_reason", "gift_claim_token"):
        setattr(card, field, getattr(locked, field))
    return card
