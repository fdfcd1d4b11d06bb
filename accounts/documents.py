"""Printable documents of the museum card: the card itself and the monthly settlement."""

from __future__ import annotations

import csv
import io

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from accounts.models import MuseumCard
from accounts.selectors import Settlement
from museum.emails import register_attachment
from ticketing.documents import _font_config, qr_data_uri


def _pdf(html: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(font_config=_font_config())


def card_pdf(card: MuseumCard) -> bytes:
    """The card as a one-page PDF of card size (85.6 × 54 mm) with its QR code.

    The QR code holds the card's secret; the number under it can be typed at the desk.
    Rendered in the card's language.
    """
    with translation.override(card.language):
        html = render_to_string(
            "accounts/card/pdf/card.html",
            {
                "card": card,
                "museum_name": settings.MUSEUM_NAME,
                "qr": qr_data_uri(card.secret),
                "number": card_number_display(card.number),
            },
        )
    return _pdf(html)


def card_number_display(number: str) -> str:
    """The 12 digits in groups of four, as printed and read out (the ``card_number`` filter)."""
    from accounts.templatetags.cards import card_number

    return card_number(number)


@register_attachment("accounts.card_pdf")
def card_pdf_attachment(ref: str) -> tuple[str, bytes, str]:
    card = MuseumCard.objects.select_related("product").get(pk=int(ref))
    return f"museum-card-{card.number}.pdf", card_pdf(card), "application/pdf"


def settlement_csv(settlement: Settlement) -> str:
    """The settlement as CSV: one row per site, then the total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["month", "site_id", "site", "visits", "distinct_holders"])
    month = f"{settlement.year:04d}-{settlement.month:02d}"
    for row in settlement.rows:
        writer.writerow([month, row.site_id, row.site_name, row.visits, row.holders])
    writer.writerow([month, "", "TOTAL", settlement.total_visits, ""])
    return buffer.getvalue()


def settlement_pdf(settlement: Settlement, *, language: str) -> bytes:
    """The settlement as an A4 PDF, in ``language``."""
    with translation.override(language):
        html = render_to_string(
            "accounts/card/pdf/settlement.html",
            {"settlement": settlement, "museum_name": settings.MUSEUM_NAME},
        )
    return _pdf(html)
