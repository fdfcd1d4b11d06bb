"""The tickets' PDF: one A4 page per ticket, readable on a phone, with the QR code."""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from museum.emails import register_attachment
from ticketing import selectors
from ticketing.models import Order


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as an inline SVG path (error correction M, quiet zone 4)."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=10,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    code.add_data(data)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


@lru_cache(maxsize=1)
def _stylesheet():
    from weasyprint import CSS

    return CSS(filename=str(settings.BASE_DIR / "static" / "ticketing" / "ticket-pdf.css"))


def order_pdf(order: Order) -> bytes:
    """Render the order's tickets as one PDF, in the buyer's language."""
    from weasyprint import HTML

    tickets = selectors.order_tickets(order)
    with translation.override(order.language):
        html = render_to_string(
            "ticketing/pdf/tickets.html",
            {
                "order": order,
                "museum_name": settings.MUSEUM_NAME,
                "tickets": [
                    {
                        "ticket": t,
                        "starts_at": timezone.localtime(t.time_slot.starts_at),
                        "ends_at": timezone.localtime(t.time_slot.ends_at),
                        "price": t.price_cents / 100,
                        "qr": mark_safe(qr_svg(t.secret)),  # noqa: S308  our own SVG
                    }
                    for t in tickets
                ],
                "count": len(tickets),
            },
        )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(stylesheets=[_stylesheet()])


@register_attachment("ticketing.order_pdf")
def order_pdf_attachment(ref: str) -> tuple[str, bytes, str]:
    order = Order.objects.select_related("site").get(pk=int(ref))
    return f"tickets-{order.code}.pdf", order_pdf(order), "application/pdf"
