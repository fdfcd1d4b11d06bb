"""The tickets' PDF: one page per ticket, a QR code that scans back to the ticket's secret."""

from __future__ import annotations

import pypdfium2
import pytest
import zxingcpp
from django.utils import formats, timezone, translation

from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.documents import order_pdf, order_pdf_attachment
from ticketing.models import Order, TicketType
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db


def _order(*, language="en") -> Order:
    slot = TimeSlotFactory(capacity=20, exhibition__name="Treasures of the Nile")
    adult = TicketTypeFactory(site=slot.site, name="Adult", price_cents=1450)
    child = TicketTypeFactory(
        site=slot.site, kind=TicketType.Kind.CHILD, name="Child (6-17)", price_cents=500
    )
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2), OrderLine(slot.pk, child.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="visitor@example.org",
        name="Visitor",
        language=language,
    )


def _pages(pdf: bytes) -> list[tuple[str, object]]:
    """(text, PIL image at 2x) of each page."""
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    for index in range(len(document)):
        page = document[index]
        textpage = page.get_textpage()
        text = textpage.get_text_range()
        image = page.render(scale=2).to_pil()
        pages.append((text, image))
    return pages


def test_a_three_ticket_order_renders_three_pages_whose_qr_codes_are_the_secrets():
    # given a paid order of two adult tickets and one child ticket
    order = _order()
    tickets = list(order.tickets.select_related("ticket_type").order_by("pk"))
    # when its PDF is rendered
    pdf = order_pdf(order)
    # then it is a PDF of 3 pages
    assert pdf.startswith(b"%PDF-")
    pages = _pages(pdf)
    assert len(pages) == 3
    decoded = []
    for (text, image), ticket in zip(pages, tickets, strict=True):
        # each page's one QR code decodes to exactly that ticket's secret
        codes = zxingcpp.read_barcodes(image)
        assert [c.format for c in codes] == [zxingcpp.BarcodeFormat.QRCode]
        decoded.append(codes[0].text)
        # and the page names the exhibition, order, ticket type and price
        assert "Treasures of the Nile" in text
        assert order.code in text
        assert ticket.ticket_type.name in text
        assert f"{ticket.price_cents / 100:.2f}" in text
    assert decoded == [t.secret for t in tickets]
    assert "€ 14.50" in pages[0][0]
    assert "€ 5.00" in pages[2][0]
    assert "3 / 3" in pages[2][0]


def test_the_ticket_pdf_is_rendered_in_the_buyers_language():
    # given a French buyer's order
    order = _order(language="fr")
    starts_at = timezone.localtime(order.tickets.first().time_slot.starts_at)
    # when its PDF is rendered
    text = _pages(order_pdf(order))[0][0]
    # then the date is written in French (weekday and month names of Django's French locale)
    with translation.override("fr"):
        french_date = formats.date_format(starts_at, "l j F Y")
    with translation.override("en"):
        english_date = formats.date_format(starts_at, "l j F Y")
    assert french_date != english_date
    assert french_date in text
    assert english_date not in text
    # and the ticket's own words come from the French catalogue
    assert "Prix" in text
    assert "Présentez ce code" in text
    assert "Show this code at the entrance" not in text


def test_the_attachment_renderer_names_the_file_after_the_order():
    order = _order()
    filename, content, mimetype = order_pdf_attachment(str(order.pk))
    assert filename == f"tickets-{order.code}.pdf"
    assert mimetype == "application/pdf"
    assert len(pypdfium2.PdfDocument(content)) == 3
