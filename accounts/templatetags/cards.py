"""Template filters of the museum card: its number as people read it, its status in words."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.translation import pgettext_lazy

from accounts.models import MuseumCard

register = template.Library()

# A card past its last day; "card status" lets languages agree it with "card".
EXPIRED = pgettext_lazy("card status", "expired")


@register.filter
def card_number(number: str | None) -> str:
    """The card number in blocks of four digits, as printed and read out: "1234 5678 9012"."""
    number = "".join(str(number or "").split())
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def card_status_label(card: MuseumCard, *, today: dt.date | None = None) -> str:
    """The card's status in the words shown everywhere: the model's labels, and "expired"
    for an activated card past its last day."""
    today = today or timezone.localdate()
    if (
        card.status == MuseumCard.Status.ACTIVE
        and card.valid_until is not None
        and card.valid_until < today
    ):
        return str(EXPIRED)
    return str(card.get_status_display())


@register.filter
def card_status(card: MuseumCard) -> str:
    """``{{ card|card_status }}``: see ``card_status_label``; today in the museum's zone."""
    return card_status_label(card)
