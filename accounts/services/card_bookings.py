"""Card holders book a 0 € ticket in a time slot, so that capacity is respected."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import MuseumCard
from accounts.services.card_scans import _card_filter
from accounts.services.cards import CardError
from museum.models import Site


def split_card_codes(raw: str) -> list[str]:
    """The card numbers or QR codes a buyer typed, one per line or separated by commas."""
    parts = raw.replace(",", "\n").replace(";", "\n").splitlines()
    return [part.strip() for part in parts if part.strip()][:100]


def cards_lock_for_booking(
    *, codes: list[str], site: Site, day: dt.date, now: dt.datetime
) -> list[MuseumCard]:
    """Lock and return the cards named by ``codes`` if each may book a slot on ``day``.

    Call inside the order's transaction, after the slot locks (the cards come last in the
    lock order). A card may book when it is valid on that day, or not yet started (its
    first visit will start it) at a site where cards may start; once per day.
    Raises: CardError naming the first card that cannot book, nothing locked for good.
    """
    from ticketing.models import Order, Ticket  # ticketing builds on accounts, not back

    if len({"".join(code.split()) for code in codes}) != len(codes):
        raise CardError(_("Each museum card books one ticket: a card number appears twice."))
    cards = []
    for code in codes:
        lookup = _card_filter(code)
        card = MuseumCard.objects.select_for_update().filter(**lookup).first() if lookup else None
        if card is None or card.status in (
            MuseumCard.Status.AWAITING_PAYMENT,
            MuseumCard.Status.AWAITING_HOLDER,
        ):
            raise CardError(_("No museum card has the number %(code)s.") % {"code": code})
        if card.status == MuseumCard.Status.ENDED:
            raise CardError(_("The museum card %(code)s has ended.") % {"code": code})
        if not card.is_valid_on(day):
            starts_later = card.months_pending > 0 and (
                card.valid_until is None or card.valid_until < day
            )
            if not starts_later:
                raise CardError(
                    _("The museum card %(code)s is not valid on %(day)s.")
                    % {"code": code, "day": day.isoformat()}
                )
            if not site.card_activation_allowed:
                raise CardError(
                    _(
                        "The museum card %(code)s has not started yet, and a card's first "
                        "visit cannot be at this museum."
                    )
                    % {"code": code}
                )
        cards.append(card)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
    booked = (
        Ticket.objects.filter(
            museum_card__in=cards,
            time_slot__starts_at__gte=start,
            time_slot__starts_at__lt=start + dt.timedelta(days=1),
        )
        .filter(
            Q(status=Ticket.Status.VALID)
            | Q(
                status=Ticket.Status.RESERVED,
                order__status=Order.Status.PENDING,
                order__hold_expires_at__gt=now,
            )
        )
        .values_list("museum_card__number", flat=True)
        .first()
    )
    if booked:
        raise CardError(
            _("The museum card %(code)s already has a booking on this day.") % {"code": booked}
        )
    return cards
