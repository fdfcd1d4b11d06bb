"""The tickets' PDF: one A4 page per ticket, readable on a phone, with the QR code."""

from __future__ import annotations

import base64
import io
import re
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

# --- QR codes: qrcode's symbol, its mask chosen faster ---------------------------------------
#
# qrcode chooses the mask (ISO/IEC 18004: the lowest penalty of the eight) by placing the
# data eight times and scoring each symbol with Python loops over every module: about 3 ms
# a ticket, a fifth of a ten-ticket PDF. The eight candidates differ only in the data
# modules, each the data bit XOR the mask's pattern, so the data is placed once and each
# mask is applied to whole rows as integers; the penalty is computed on rows and columns
# as strings with the same rules as ``qrcode.util.lost_point``. Same mask, same symbol
# (tests/ticketing/test_pdf.py compares both with qrcode's own choice).

_RUN = re.compile(r"0{5,}|1{5,}")
_FINDER_LIKE = re.compile(r"(?=10111010000|00001011101)")
_data_cells: dict[int, tuple[tuple[int, int], ...]] = {}


def _penalty(rows: list[str], size: int) -> int:
    """``qrcode.util.lost_point`` of the symbol whose rows are ``rows`` ("1" = dark)."""
    columns = ["".join(column) for column in zip(*rows, strict=True)]
    # Every row and column in one string; "|" ends each, so no pattern spans two lines.
    lines = "|".join(rows + columns)
    # Runs of five or more modules of one colour in a row or column: length - 2 each.
    runs = _RUN.findall(lines)
    points = sum(map(len, runs)) - 2 * len(runs)
    # 2x2 blocks of one colour: 3 each.
    pairs = (1 << (size - 1)) - 1
    for upper, lower in zip(rows, rows[1:], strict=False):
        top, bottom = int(upper, 2), int(lower, 2)
        same_vertically = ~(top ^ bottom)
        block = same_vertically & (same_vertically >> 1) & ~(top ^ (top >> 1)) & pairs
        points += 3 * block.bit_count()
    # 1:1:3:1:1 finder-like patterns with four light modules on one side: 40 each.
    points += 40 * len(_FINDER_LIKE.findall(lines))
    # Every 5 % the dark share departs from 50 %: 10.
    dark = sum(row.count("1") for row in rows)
    points += int(abs(float(dark) / size**2 * 100 - 50) / 5) * 10
    return points


@lru_cache(maxsize=16)
def _mask_flips(version: int, size: int) -> tuple[tuple[int, ...], ...]:
    """Per mask, per row: the data modules where that mask differs from mask 0 (bits)."""
    cells = _data_cells[version]
    masks = [qrcode.util.mask_func(pattern) for pattern in range(8)]
    flips = []
    for mask in masks:
        rows = [0] * size
        for row, column in cells:
            if mask(row, column) != masks[0](row, column):
                rows[row] |= 1 << (size - 1 - column)
        flips.append(tuple(rows))
    return tuple(flips)


class _QRCode(qrcode.QRCode):
    """``qrcode.QRCode`` choosing the same mask with one data placement instead of eight."""

    def map_data(self, data, mask_pattern):
        # The modules still empty here are the data modules (the same for every mask).
        if self.version not in _data_cells:
            _data_cells[self.version] = tuple(
                (row, column)
                for row, modules in enumerate(self.modules)
                for column, module in enumerate(modules)
                if module is None
            )
        super().map_data(data, mask_pattern)

    def best_mask_pattern(self):
        self.makeImpl(True, 0)  # the test layout with mask 0, as qrcode scores it
        size = self.modules_count
        base = [int("".join("1" if module else "0" for module in row), 2) for row in self.modules]
        best, best_points = 0, None
        for pattern, flips in enumerate(_mask_flips(self.version, size)):
            rows = [format(row ^ flip, f"0{size}b") for row, flip in zip(base, flips, strict=True)]
            points = _penalty(rows, size)
            if best_points is None or points < best_points:  # the first lowest, as qrcode
                best, best_points = pattern, points
        return best


def _qr_matrix(data: str) -> list[list[bool]]:
    code = _QRCode(
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
