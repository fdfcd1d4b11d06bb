"""Placing orders, holding and giving back capacity, issuing and cancelling tickets."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from museum.audit import audit_record
from museum.emails import email_enqueue_deferred
from museum.models import Closure
from ticketing import locking, selectors
from ticketing.errors import (
    DailyCapReached,
    InvalidQuantity,
    InvalidTicketType,
    NotCancellable,
    SlotNotOnSale,
    SoldOut,
    TicketingError,
)
from ticketing.models import Order, Reseller, Ticket, TicketType, TimeSlot

MAX_TICKETS_PER_ORDER = 100


@dataclass(frozen=True)
class OrderLine:
    time_slot_id: int
    ticket_type_id: int
    quantity: int


@dataclass(frozen=True)
class Catalogue:
    """Slots (with site and exhibition) and ticket types a caller already read, by pk.

    Lets ``order_place`` skip reading them again; they are checked all the same, and the
    slots are locked and re-read before any seat is counted.
    """

    slots: dict[int, TimeSlot]
    ticket_types: dict[int, TicketType]


def _hold_duration() -> dt.timedelta:
    return dt.timedelta(minutes=settings.TICKETING["HOLD_MINUTES"])


def _check_slot_on_sale(slot: TimeSlot, now: dt.datetime) -> None:
    day = timezone.localtime(slot.starts_at).date()
    if (
        slot.is_cancelled
        or slot.ends_at <= now
        or not slot.site.is_active
        or not slot.exhibition.is_active
        or not slot.exhibition.runs_on(day)
    ):
        raise SlotNotOnSale(field="time_slot")


def _load_and_validate(
    lines: list[OrderLine], now: dt.datetime, catalogue: Catalogue | None = None
) -> tuple[dict[int, TimeSlot], dict[int, TicketType]]:
    """Check the lines against the catalogue before any lock is taken."""
    lines = [line for line in lines if line.quantity != 0]
    if not lines:
        raise InvalidQuantity(field="quantities")
    if any(line.quantity < 0 for line in lines):
        raise InvalidQuantity(_("A quantity cannot be negative."), field="quantities")
    if sum(line.quantity for line in lines) > MAX_TICKETS_PER_ORDER:
        raise InvalidQuantity(
            _("At most %(n)d tickets can be bought in one order.") % {"n": MAX_TICKETS_PER_ORDER},
            field="quantities",
        )
    slot_ids = {line.time_slot_id for line in lines}
    type_ids = {line.ticket_type_id for line in lines}
    if catalogue is not None:
        slots = {pk: s for pk, s in catalogue.slots.items() if pk in slot_ids}
        types = {pk: t for pk, t in catalogue.ticket_types.items() if pk in type_ids}
    else:
        slots = {
            s.pk: s
            for s in TimeSlot.objects.select_related("site", "exhibition").filter(pk__in=slot_ids)
        }
        types = {t.pk: t for t in TicketType.objects.filter(pk__in=type_ids)}
    if len(slots) != len({line.time_slot_id for line in lines}):
        raise SlotNotOnSale(_("This time slot does not exist."), field="time_slot")
    if len({s.site_id for s in slots.values()}) != 1:
        raise TicketingError(_("One order is for one site."), field="time_slot")
    per_type: dict[int, int] = defaultdict(int)
    for line in lines:
        slot = slots[line.time_slot_id]
        ticket_type = types.get(line.ticket_type_id)
        if (
            ticket_type is None
            or not ticket_type.is_active
            or ticket_type.site_id != slot.site_id
            or ticket_type.exhibition_id not in (None, slot.exhibition_id)
        ):
            raise InvalidTicketType(field="ticket_type")
        per_type[ticket_type.pk] += line.quantity
    for type_id, quantity in per_type.items():
        ticket_type = types[type_id]
        if quantity > ticket_type.max_per_order:
            raise InvalidQuantity(
                _("At most %(n)d “%(name)s” tickets per order.")
                % {"n": ticket_type.max_per_order, "name": ticket_type.name},
                field="quantities",
            )
    for slot in slots.values():
        _check_slot_on_sale(slot, now)
        day = timezone.localtime(slot.starts_at).date()
        closure = Closure.objects.filter(site_id=slot.site_id).covering(day).first()
        if closure is not None:
            raise SlotNotOnSale(
                _("The museum is closed on this day: %(reason)s") % {"reason": closure.reason},
                field="time_slot",
            )
    return slots, types


def _ensure_capacity(
    *,
    site_id: int,
    daily_capacity: int | None,
    needed: dict[int, int],
    slots: dict[int, TimeSlot],
    reseller: Reseller | None,
    now: dt.datetime,
) -> None:
    """Raise SoldOut or DailyCapReached unless ``needed`` seats fit; call under the locks.

    One query (selectors.capacity_usage): the seats taken, the allocations kept for other
    resellers and, with a daily cap, the seats taken on the site's days.
    """
    days: set[dt.date] = set()
    if daily_capacity is not None:
        days = {timezone.localtime(slots[slot_id].starts_at).date() for slot_id in needed}
    usage = selectors.capacity_usage(
        slot_ids=needed,
        now=now,
        except_reseller=reseller,
        site_id=site_id if daily_capacity is not None else None,
        days=days,
    )
    for slot_id, seats in needed.items():
        free = slots[slot_id].capacity - usage.taken.get(slot_id, 0) - usage.kept.get(slot_id, 0)
        if seats > free:
            raise SoldOut(
                ngettext_lazy(
                    "Only %(n)d place is left in this time slot.",
                    "Only %(n)d places are left in this time slot.",
                    free,
                )
                % {"n": free}
                if free > 0
                else None,
                field="quantities",
            )
    if daily_capacity is None:
        return
    needed_per_day: dict[dt.date, int] = defaultdict(int)
    for slot_id, seats in needed.items():
        needed_per_day[timezone.localtime(slots[slot_id].starts_at).date()] += seats
    for day, seats in needed_per_day.items():
        if usage.taken_per_day[day] + seats > daily_capacity:
            raise DailyCapReached(field="quantities")


def order_place(
    *,
    lines: list[OrderLine],
    channel: str,
    email: str = "",
    name: str = "",
    language: str = "en",
    user=None,
    reseller: Reseller | None = None,
    reseller_reference: str = "",
    created_by=None,
    payment_method: str = "",
    museum_cards: list[str] | None = None,
    catalogue: Catalogue | None = None,
    now: dt.datetime | None = None,
) -> Order:
    """Create an order and hold or issue its tickets, never selling past capacity.

    A web order with something to pay is held for TICKETING["HOLD_MINUTES"] and waits
    for payment; a free order, a desk sale (paid at the desk) and a reseller order
    (invoiced) are issued at once and their tickets e-mailed after commit.
    A card holder's ticket (kind CARD_HOLDER) names one museum card each, in
    ``museum_cards`` (numbers or QR codes): the card must be good for that day and books
    at most one ticket a day. ``catalogue``: the lines' slots and ticket types when the
    caller has read them already (the reseller API).
    Side effects: Order and Ticket rows, an audit event, an outbox e-mail when issued.
    Raises: InvalidQuantity, InvalidTicketType, SlotNotOnSale, SoldOut, DailyCapReached,
    TicketingError (field "museum_cards") for a card that cannot book.
    """
    now = now or timezone.now()
    slots, types = _load_and_validate(lines, now, catalogue)
    lines = [line for line in lines if line.quantity > 0]
    card_codes = list(museum_cards or [])
    card_lines = [
        line for line in lines if types[line.ticket_type_id].kind == TicketType.Kind.CARD_HOLDER
    ]
    if sum(line.quantity for line in card_lines) != len(card_codes):
        raise TicketingError(
            _("Give one museum card number for each card holder's ticket."),
            field="museum_cards",
        )
    site = next(iter(slots.values())).site
    needed: dict[int, int] = defaultdict(int)
    for line in lines:
        needed[line.time_slot_id] += line.quantity * types[line.ticket_type_id].admits
    total = sum(types[line.ticket_type_id].price_cents * line.quantity for line in lines)

    with transaction.atomic():
        if site.daily_capacity is not None:
            locking.lock_site(site.pk)
        locked = locking.lock_slots(list(needed))
        for slot in locked.values():
            slot.site, slot.exhibition = slots[slot.pk].site, slots[slot.pk].exhibition
            _check_slot_on_sale(slot, now)
        _ensure_capacity(
            site_id=site.pk,
            daily_capacity=site.daily_capacity,
            needed=needed,
            slots=locked,
            reseller=reseller,
            now=now,
        )
        cards = _lock_cards(card_codes, card_lines, slots, now) if card_codes else []
        pays_later = channel == Order.Channel.WEB and total > 0
        order = Order(
            site=site,
            channel=channel,
            language=language,
            user=user if getattr(user, "is_authenticated", False) else None,
            reseller=reseller,
            created_by=created_by,
            total_cents=total,
            currency=settings.TICKETING["CURRENCY"],
            # Issued at once (free, desk, reseller): created paid, with valid tickets.
            status=Order.Status.PENDING if pays_later else Order.Status.PAID,
            paid_at=None if pays_later else now,
            hold_expires_at=now + _hold_duration() if pays_later else None,
            payment_method="" if pays_later else (payment_method or Order.PaymentMethod.NONE),
        )
        order.set_buyer(
            email=email.strip().lower(), name=name.strip(), reseller_reference=reseller_reference
        )
        order.save(force_insert=True)
        card_queue = iter(cards)
        tickets = Ticket.objects.bulk_create(
            [
                Ticket(
                    order=order,
                    time_slot=slots[line.time_slot_id],
                    ticket_type=types[line.ticket_type_id],
                    status=Ticket.Status.RESERVED if pays_later else Ticket.Status.VALID,
                    seats=types[line.ticket_type_id].admits,
                    price_cents=types[line.ticket_type_id].price_cents,
                    vat_rate=types[line.ticket_type_id].vat_rate,
                    museum_card=next(card_queue) if line in card_lines else None,
                )
                for line in lines
                for _ in range(line.quantity)
            ]
        )
        audit_record(
            action="order.placed",
            subject=order,
            actor=created_by,
            actor_label=reseller.name if reseller else ("" if created_by else "web"),
            data={"total_cents": total, "channel": channel, "seats": sum(needed.values())},
            now=now,
        )
        if not pays_later:
            _record_paid(order, now=now)
            order_send_tickets(order=order, tickets=tickets)
    return order


def _lock_cards(
    codes: list[str], card_lines: list[OrderLine], slots: dict[int, TimeSlot], now: dt.datetime
) -> list:
    """The museum cards of the card holders' tickets, locked; after the slot locks."""
    from accounts.services.card_bookings import cards_lock_for_booking
    from accounts.services.cards import CardError

    days = {timezone.localtime(slots[line.time_slot_id].starts_at).date() for line in card_lines}
    site = slots[card_lines[0].time_slot_id].site
    try:
        return cards_lock_for_booking(codes=codes, site=site, day=min(days), now=now)
    except CardError as exc:
        raise TicketingError(exc.message, field="museum_cards") from exc


def _issue(order: Order, *, payment_method: str, now: dt.datetime) -> None:
    """Mark a locked or new order paid, make its tickets valid and e-mail them."""
    order.status = Order.Status.PAID
    order.paid_at = now
    order.payment_method = payment_method
    order.hold_expires_at = None
    order.save(
        update_fields=["status", "paid_at", "payment_method", "hold_expires_at", "updated_at"]
    )
    order.tickets.filter(status=Ticket.Status.RESERVED).update(status=Ticket.Status.VALID)
    _record_paid(order, now=now)
    from accounts.services.cards import card_purchases_apply

    card_purchases_apply(order=order, now=now)
    order_send_tickets(order=order)


def _record_paid(order: Order, *, now: dt.datetime) -> None:
    """The audit event of a paid order, and the buyer's activity (seed 003).

    A purchase keeps the buyer's account: the order's account, and the account whose
    address is the order's e-mail (a guest purchase by an account holder is theirs too,
    as the purge's person-wide rules count it). Side effects: an audit event; one UPDATE
    of User.last_activity_at.
    """
    from accounts.services.users import account_activity_record

    account_activity_record(user_id=order.user_id, email=order.email, now=now)
    audit_record(
        action="order.paid",
        subject=order,
        data={"payment_method": order.payment_method, "total_cents": order.total_cents},
        now=now,
    )


def order_send_tickets(
    *, order: Order, resend_number: int = 0, tickets: list[Ticket] | None = None
) -> None:
    """Queue the e-mail with the tickets' PDF in the buyer's language (once per number).

    The outbox row is written in the caller's transaction but rendered when it is sent
    (museum.emails.email_enqueue_deferred): placing an order renders nothing while it
    holds the slot locks. The e-mail lists ``tickets`` (their ids are kept in the row's
    reference), or without them every ticket the order has when it is sent.
    Side effects: an outbox row, sent after commit. Does nothing without an e-mail or
    for an order of museum cards only (no site, no tickets: cards have their own e-mail).
    """
    if not order.email or order.site_id is None:
        return
    context_ref: dict = {"kind": selectors.ORDER_TICKETS_EMAIL, "ref": order.pk}
    if tickets is not None:
        context_ref["tickets"] = [t.pk for t in tickets]
    email_enqueue_deferred(
        dedupe_key=f"ticketing.order_tickets:{order.pk}:{resend_number}",
        to=order.email,
        template="ticketing/order_tickets",
        context_ref=context_ref,
        language=order.language,
        attachments=[{"kind": "ticketing.order_pdf", "ref": str(order.pk)}],
    )


def order_public_path(order: Order) -> str:
    from django.urls import reverse

    return reverse("ticketing:order_detail", kwargs={"token": order.access_token})


# How often a buyer may have the tickets sent again from the order page (staff: no limit).
PUBLIC_RESEND_LIMIT = 5


def order_resend(
    *, order: Order, actor=None, limit: int | None = None, now: dt.datetime | None = None
) -> None:
    """Send the tickets e-mail once more; at most ``limit`` times when a limit is given.

    The limit is checked under the order's lock, so simultaneous clicks cannot pass it.
    Side effects: resend counter, audit event, outbox e-mail.
    Raises: TicketingError when the order is not paid, has no e-mail or the limit is used.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = locking.lock_order(order.pk)
        if locked.status != Order.Status.PAID:
            raise TicketingError(_("Only paid orders have tickets to send."))
        if not locked.email:
            raise TicketingError(_("This order has no e-mail address."))
        if limit is not None and locked.resend_count >= limit:
            raise TicketingError(
                _("The tickets have been sent several times already. Please contact us.")
            )
        locked.resend_count += 1
        locked.save(update_fields=["resend_count", "updated_at"])
        audit_record(action="order.resent", subject=locked, actor=actor, now=now)
        order_send_tickets(order=locked, resend_number=locked.resend_count)
    order.resend_count = locked.resend_count


def orders_expire_holds(*, now: dt.datetime | None = None, batch: int = 1000) -> int:
    """Turn pending orders whose hold ran out into expired ones; returns how many.

    Capacity is already free the moment a hold expires (availability reads the expiry);
    this sweep only makes the status say so. What vouchers paid of an order that was never
    paid goes back to them (expired here, or closed elsewhere: a campaign, a late payment
    refunded). Side effects: Order.status updates; voucher releases with their audit.
    """
    from refunds.services.vouchers import vouchers_release_unpaid

    now = now or timezone.now()
    done = 0
    while True:
        ids = list(
            Order.objects.filter(status=Order.Status.PENDING, hold_expires_at__lte=now)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            vouchers_release_unpaid(now=now)
            return done
        done += Order.objects.filter(
            pk__in=ids, status=Order.Status.PENDING, hold_expires_at__lte=now
        ).update(status=Order.Status.EXPIRED, updated_at=now)


def order_try_reclaim_seats(order: Order, now: dt.datetime) -> bool:
    """For a late payment: take the order's seats again if they are still free and on sale.

    Call inside a transaction with the order locked. Returns False when they are gone, or
    when the slot has since ended, been cancelled or fallen on a closure. An order of
    museum cards only (no site, no tickets) holds no seats: True.
    """
    site = order.site
    if site is None:
        return True
    tickets = list(
        order.tickets.filter(status=Ticket.Status.RESERVED).values("time_slot_id", "seats")
    )
    needed: dict[int, int] = defaultdict(int)
    for t in tickets:
        needed[t["time_slot_id"]] += t["seats"]
    if not needed:
        return False
    if site.daily_capacity is not None:
        locking.lock_site(site.pk)
    locked = locking.lock_slots(list(needed))
    for slot in locked.values():
        slot.site = site
    try:
        for slot in locked.values():
            _check_slot_on_sale(slot, now)
            day = timezone.localtime(slot.starts_at).date()
            if Closure.objects.filter(site_id=site.pk).covering(day).exists():
                return False
        _ensure_capacity(
            site_id=site.pk,
            daily_capacity=site.daily_capacity,
            needed=dict(needed),
            slots=locked,
            reseller=order.reseller,
            now=now,
        )
    except TicketingError:
        return False
    return True


def tickets_cancel(
    *,
    order: Order,
    ticket_ids: list[int] | None = None,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    now: dt.datetime | None = None,
) -> list[Ticket]:
    """Cancel unscanned tickets of a paid order; their seats return to the slot at once.

    ``ticket_ids`` None means every ticket still cancellable. The money side (refund) is
    the refunds app's; the amount to refund is recorded in the audit event.
    Side effects: tickets and maybe the order cancelled, audit event.
    Raises: NotCancellable when a named ticket is scanned, cancelled or not in the order.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = locking.lock_order(order.pk)
        if locked.status != Order.Status.PAID:
            raise NotCancellable(_("Only tickets of a paid order can be cancelled."))
        candidates = list(
            locked.tickets.select_for_update().filter(
                status=Ticket.Status.VALID, checked_in_at__isnull=True
            )
        )
        if ticket_ids is not None:
            wanted = set(ticket_ids)
            chosen = [t for t in candidates if t.pk in wanted]
            if len(chosen) != len(wanted):
                raise NotCancellable(
                    _("Some of these tickets were already used or cancelled; nothing was changed.")
                )
        else:
            chosen = candidates
        if not chosen:
            raise NotCancellable(_("No ticket of this order can still be cancelled."))
        Ticket.objects.filter(pk__in=[t.pk for t in chosen]).update(
            status=Ticket.Status.CANCELLED, cancelled_at=now, updated_at=now
        )
        remaining = locked.tickets.exclude(status=Ticket.Status.CANCELLED).exists()
        if not remaining:
            locked.status = Order.Status.CANCELLED
            locked.cancelled_at = now
            locked.save(update_fields=["status", "cancelled_at", "updated_at"])
        audit_record(
            action="tickets.cancelled",
            subject=locked,
            actor=actor,
            actor_label=actor_label,
            data={
                "tickets": [t.pk for t in chosen],
                "amount_cents": sum(t.price_cents for t in chosen),
                "reason": reason[:500],
            },
            now=now,
        )
    order.refresh_from_db()
    for ticket in chosen:
        ticket.status = Ticket.Status.CANCELLED
    return chosen
