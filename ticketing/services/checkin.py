"""Checking tickets in at the entrance: a ticket admits once, even under parallel scans."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from museum.audit import audit_record
from ticketing.models import Order, Ticket


class ScanResult(StrEnum):
    VALID = "valid"
    ALREADY_USED = "already_used"
    WRONG_SLOT = "wrong_slot"
    CANCELLED = "cancelled"
    CARD_NOT_VALID = "card_not_valid"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CheckInOutcome:
    result: ScanResult
    ticket: Ticket | None = None


def _clean(code: str) -> str:
    # Handheld scanners type the QR content followed by Enter; some add spaces.
    return "".join(code.split())[:64]


def ticket_check_in(
    *, code: str, gate: str = "", actor=None, now: dt.datetime | None = None
) -> CheckInOutcome:
    """Admit the ticket whose secret is ``code`` if it is valid for now.

    The admission is one conditional UPDATE, so of two simultaneous scans exactly one
    wins and the other reads ALREADY USED. Side effects: the ticket's check-in fields and
    an audit event when admitted.
    """
    now = now or timezone.now()
    secret = _clean(code)
    ticket = (
        Ticket.objects.select_related(
            "order",
            "time_slot",
            "time_slot__exhibition",
            "time_slot__site",
            "ticket_type",
            "checked_in_by",
            "museum_card",
        )
        .filter(secret=secret)
        .first()
        if secret
        else None
    )
    if ticket is None:
        return CheckInOutcome(ScanResult.UNKNOWN)
    if ticket.status == Ticket.Status.CANCELLED or ticket.order.status != Order.Status.PAID:
        return CheckInOutcome(ScanResult.CANCELLED, ticket)
    if ticket.checked_in_at is not None:
        return CheckInOutcome(ScanResult.ALREADY_USED, ticket)
    grace = dt.timedelta(minutes=settings.TICKETING["CHECKIN_GRACE_MINUTES"])
    if not (ticket.time_slot.starts_at - grace <= now <= ticket.time_slot.ends_at + grace):
        return CheckInOutcome(ScanResult.WRONG_SLOT, ticket)
    with transaction.atomic():
        admitted = Ticket.objects.filter(
            pk=ticket.pk, status=Ticket.Status.VALID, checked_in_at__isnull=True
        ).update(
            checked_in_at=now,
            checked_in_by=actor if getattr(actor, "is_authenticated", False) else None,
            checked_in_gate=gate[:60],
        )
        ticket.refresh_from_db()
        if not admitted:
            if ticket.status == Ticket.Status.CANCELLED:
                return CheckInOutcome(ScanResult.CANCELLED, ticket)
            return CheckInOutcome(ScanResult.ALREADY_USED, ticket)
        if ticket.museum_card_id is not None and not _card_admits(ticket, gate, actor, now):
            # The card holder's ticket admits only with a card still good today.
            transaction.set_rollback(True)
            return CheckInOutcome(ScanResult.CARD_NOT_VALID, ticket)
        audit_record(
            action="ticket.checked_in",
            subject=ticket,
            actor=actor,
            data={"gate": gate[:60]},
            now=now,
        )
    return CheckInOutcome(ScanResult.VALID, ticket)


def _card_admits(ticket: Ticket, gate: str, actor, now: dt.datetime) -> bool:
    """Scan the booking's museum card at the slot's site: starts it, records the visit."""
    from accounts.services.card_scans import CardScanResult, card_scan

    card = ticket.museum_card
    assert card is not None  # only called for a card holder's ticket
    outcome = card_scan(
        code=card.secret, site=ticket.time_slot.site, gate=gate, actor=actor, now=now
    )
    return outcome.result == CardScanResult.VALID
