"""The tickets' PDF: one A4 page per ticket, readable on a phone, with the QR code."""

from __future__ import annotations

import base64
import io
import threading
from functools import lru_cache

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from PIL import Image

from museum.emails import register_attachment
from ticketing import selectors
from ticketing.models import Order


def _qr_matrix(data: str) -> list[list[bool]]:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
    )
    code.add_data(data)
    code.make(fit=True)
    return code.get_matrix()


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


def qr_png(data: str) -> bytes:
    """The QR code of ``data`` as a 1-bit PNG, one pixel per module (quiet zone included).

    The PDF scales it up without smoothing (``image-rendering: pixelated``): a few hundred
    bytes per ticket, and WeasyPrint draws one image instead of parsing an SVG path with
    thousands of points, which is what made the PDF slow.
    """
    matrix = _qr_matrix(data)
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def qr_data_uri(data: str) -> str:
    return "data:image/png;base64," + base64.b64encode(qr_png(data)).decode("ascii")


@lru_cache(maxsize=1)
def _stylesheet():
    from weasyprint import CSS

    return CSS(filename=str(settings.BASE_DIR / "static" / "ticketing" / "ticket-pdf.css"))


_local = threading.local()


def _font_config():
    """One FontConfiguration per thread: creating one per PDF costs more than the page.

    WeasyPrint's font configuration wraps fontconfig and Pango objects that are not
    shared between threads, so each thread (gthread worker, Celery thread pool) has its own.
    """
    font_config = getattr(_local, "font_config", None)
    if font_config is None:
        from weasyprint.text.fonts import FontConfiguration

        font_config = _local.font_config = FontConfiguration()
    return font_config


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
                        "qr": qr_data_uri(t.secret),
                    }
                    for t in tickets
                ],
                "count": len(tickets),
            },
        )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(
        stylesheets=[_stylesheet()], font_config=_font_config()
    )


@register_attachment("ticketing.order_pdf")
def order_pdf_attachment(ref: str) -> tuple[str, bytes, str]:
    order = Order.objects.select_related("site").get(pk=int(ref))
    return f"tickets-{order.code}.pdf", order_pdf(order), "application/pdf"
