"""The museum card at the entrance: telling card codes from tickets and scanning cards.

Validity starts at the card's first scan at a site that allows it: ``months_pending``
months from that day. Every admitted scan writes exactly one ``CardVisit``, the basis of
the network's settlement. A valid card costs one statement (the read and the visit's insert
together); starting a card is one conditional UPDATE, retried on a changed row and finally
under the row lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import CardVisit, MuseumCard
from accounts.services.cards import validity_end
from museum.audit import audit_record
from museum.models import Site


class CardScanResult(StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    NOT_ACTIVATED_BLOCKED = "not_activated_blocked"
    ENDED = "ended"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CardScanOutcome:
    result: CardScanResult
    card: MuseumCard | None = None
    visit: CardVisit | None = None
    activated: bool = False


# --- the entrance -------------------------------------------------------------------------


def _clean_code(code: str) -> str:
    # Scanners type the QR content and Enter; people type the number with spaces or dashes.
    return "".join((code or "").split())[:64]


# A card's QR secret is "C" + 27 URL-safe characters (accounts.models.cards.new_card_secret);
# a ticket's is 27 characters: the two never look alike, nor does a 12-digit number.
CARD_SECRET_LENGTH = 28


def _card_filter(code: str) -> dict[str, str] | None:
    cleaned = _clean_code(code)
    digits = cleaned.replace("-", "")
    if len(digits) == 12 and digits.isdigit():
        return {"number": digits}
    if cleaned.startswith("C") and len(cleaned) == CARD_SECRET_LENGTH:
        return {"secret": cleaned}
    return None


def card_code_looks_like_a_card(code: str) -> bool:
    """Whether ``code`` has the shape of a card's QR secret or number (never a ticket's)."""
    return _card_filter(code) is not None


def card_code_is_known(code: str) -> bool:
    """Whether ``code`` is one of our cards' QR secret or number; no side effects."""
    lookup = _card_filter(code)
    return lookup is not None and MuseumCard.objects.filter(**lookup).exists()


def card_scan(
    *, code: str, site: Site, gate: str = "", actor=None, now: dt.datetime | None = None
) -> CardScanOutcome:
    """Admit a card holder at ``site``: VALID records one visit, anything else none.

    ``code`` is the card's QR secret or its 12-digit number typed by hand. A card not yet
    started begins its validity at this visit (``months_pending`` months from today) if
    the site allows cards to start there, else NOT_ACTIVATED_BLOCKED. An unpaid card or an
    unclaimed gift is UNKNOWN (it is no card yet).
    A valid card costs one statement, its read and its visit's insert together (no lock:
    the entrance is the busiest path). Starting a card is one conditional UPDATE on what
    was read, so of simultaneous first scans exactly one starts it and the others, finding
    it changed, read it again and are admitted on the validity it now has; each VALID scan
    writes its own visit.
    Side effects: CardVisit row; on a first visit the card's validity and an audit event.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    lookup = _card_filter(code)
    if lookup is None:
        return CardScanOutcome(CardScanResult.UNKNOWN)
    for attempt in range(3):
        # Another scan, a renewal or an ending changed the card between our read and our
        # update: read it again; the last try holds the row lock, so it cannot miss.
        locked = attempt == 2
        with transaction.atomic() if locked else contextlib.nullcontext():
            outcome = _scan_once(lookup, site, gate, actor, now, today, locked=locked)
        if outcome is not None:
            return outcome
    raise AssertionError("a locked card scan always decides")  # pragma: no cover


def _scan_once(
    lookup: dict[str, str],
    site: Site,
    gate: str,
    actor,
    now: dt.datetime,
    today: dt.date,
    *,
    locked: bool,
) -> CardScanOutcome | None:
    """One read and decision; None when the card changed before it could be started."""
    if locked:
        card = MuseumCard.objects.filter(**lookup).select_for_update().first()
    else:
        card, visit = _read_and_admit(lookup, site, gate, actor, now, today)
        if visit is not None:
            return CardScanOutcome(CardScanResult.VALID, card, visit)
    if card is None or card.status in (
        MuseumCard.Status.AWAITING_PAYMENT,
        MuseumCard.Status.AWAITING_HOLDER,
    ):
        return CardScanOutcome(CardScanResult.UNKNOWN)
    if card.status == MuseumCard.Status.ENDED:
        return CardScanOutcome(CardScanResult.ENDED, card)
    if card.is_valid_on(today):
        return CardScanOutcome(CardScanResult.VALID, card, _visit(card, site, gate, actor, now))
    if card.months_pending == 0:
        return CardScanOutcome(CardScanResult.EXPIRED, card)
    if not site.card_activation_allowed:
        return CardScanOutcome(CardScanResult.NOT_ACTIVATED_BLOCKED, card)
    with transaction.atomic():
        if not _start(card, site=site, today=today, actor=actor, now=now):
            return None
        visit = _visit(card, site, gate, actor, now)
    return CardScanOutcome(CardScanResult.VALID, card, visit, activated=True)


def _visit_fields(gate: str, actor) -> tuple[str, Any]:
    return (gate or "")[:60], actor if getattr(actor, "is_authenticated", False) else None


def _visit(card: MuseumCard, site: Site, gate: str, actor, now: dt.datetime) -> CardVisit:
    gate, checked_in_by = _visit_fields(gate, actor)
    return CardVisit.objects.create(
        card=card, site=site, visited_at=now, gate=gate, checked_in_by=checked_in_by
    )


def _read_and_admit(
    lookup: dict[str, str], site: Site, gate: str, actor, now: dt.datetime, today: dt.date
) -> tuple[MuseumCard | None, CardVisit | None]:
    """The card, and its visit when it is valid ``today``: one statement for both.

    The visit is inserted by the same statement that reads the card, on exactly the
    condition of ``MuseumCard.is_valid_on`` (active, valid_from <= today <= valid_until);
    any other card comes back without a visit, and nothing was written for it. Like the
    read and insert it replaces, it takes no lock.
    """
    if connection.vendor != "postgresql":
        # SQLite (the demo) has no INSERT inside WITH: the read, then the insert.
        card = MuseumCard.objects.filter(**lookup).order_by("id").first()
        if card is None or not card.is_valid_on(today):
            return card, None
        return card, _visit(card, site, gate, actor, now)
    [(column, value)] = lookup.items()
    card_table = connection.ops.quote_name(MuseumCard._meta.db_table)
    visit_table = connection.ops.quote_name(CardVisit._meta.db_table)
    where_field = MuseumCard._meta.get_field(column)
    assert isinstance(where_field, models.Field)
    where_column = connection.ops.quote_name(where_field.column or column)
    gate, checked_in_by = _visit_fields(gate, actor)
    # Only identifiers from the models' metadata are formatted in; every value is a parameter.
    rows = MuseumCard.objects.raw(
        f"""
        WITH card AS (SELECT * FROM {card_table} WHERE {where_column} = %s ORDER BY id LIMIT 1),
        visit AS (
            INSERT INTO {visit_table} (card_id, site_id, visited_at, gate, checked_in_by_id)
            SELECT id, %s, %s, %s, %s FROM card
            WHERE status = %s AND valid_from IS NOT NULL AND valid_until IS NOT NULL
                AND valid_from <= %s AND valid_until >= %s
            RETURNING id
        )
        SELECT card.*, (SELECT id FROM visit) AS scan_visit_id FROM card
        """,  # noqa: S608
        [
            value,
            site.pk,
            now,
            gate,
            checked_in_by.pk if checked_in_by else None,
            MuseumCard.Status.ACTIVE,
            today,
            today,
        ],
    )
    card = next(iter(rows), None)
    visit_id = getattr(card, "scan_visit_id", None)
    if card is None or visit_id is None:
        return card, None
    visit = CardVisit(
        id=visit_id,
        card=card,
        site=site,
        visited_at=now,
        gate=gate,
        checked_in_by=checked_in_by,
    )
    visit._state.adding = False
    visit._state.db = rows.db
    return card, visit


def _start(card: MuseumCard, *, site: Site, today: dt.date, actor, now: dt.datetime) -> bool:
    """Start the card's pending months today, if it is still as it was read."""
    before = card.valid_until
    valid_until = validity_end(starts_on=today, months=card.months_pending)
    started = MuseumCard.objects.filter(
        pk=card.pk,
        status=card.status,
        months_pending=card.months_pending,
        valid_until=card.valid_until,
    ).update(
        status=MuseumCard.Status.ACTIVE,
        valid_from=today,
        valid_until=valid_until,
        months_pending=0,
        activated_at=card.activated_at or now,
        updated_at=now,
    )
    if not started:
        return False
    card.status = MuseumCard.Status.ACTIVE
    card.valid_from, card.valid_until = today, valid_until
    card.months_pending = 0
    card.activated_at = card.activated_at or now
    audit_record(
        action="card.activated",
        subject=card,
        actor=actor,
        data={
            "site": site.slug,
            "valid_from": today.isoformat(),
            "valid_until": valid_until.isoformat(),
            "previous_valid_until": before.isoformat() if before else None,
        },
        now=now,
    )
    return True
