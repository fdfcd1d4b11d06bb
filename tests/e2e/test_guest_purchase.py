"""A guest buys two tickets in a real browser, from the home page to the PDF and e-mail."""

from __future__ import annotations

import datetime as dt
import io
import re

import pypdfium2
import pytest
import zxingcpp
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from newsletter.models import NewsletterConsent
from ticketing.models import Order, Ticket, TimeSlot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EXHIBITION = "Tapestries of the Golden Age"
EXHIBITION_SLUG = "golden-age-tapestries"


def _open_first_bookable_day_after_today(page) -> dt.date:
    """Click the first day after today that the calendar offers; returns that day."""
    today = timezone.localdate()
    for _month in range(3):
        for link in page.locator("a.cal-day").all():
            day = dt.date.fromisoformat(link.get_attribute("href").rstrip("/").rsplit("/", 1)[1])
            if day > today:
                link.click()
                return day
        page.get_by_role("link", name=re.compile("→")).click()
    raise AssertionError("the calendar offered no bookable day after today")


def _qr_codes_in_pdf(pdf_bytes: bytes) -> list[list[str]]:
    """The QR code texts found on each page of the PDF, page by page."""
    pdf = pypdfium2.PdfDocument(io.BytesIO(pdf_bytes))
    found = []
    for index in range(len(pdf)):
        image = pdf[index].render(scale=2).to_pil()
        found.append(
            [
                barcode.text
                for barcode in zxingcpp.read_barcodes(image)
                if barcode.format == zxingcpp.BarcodeFormat.QRCode
            ]
        )
    return found


def test_guest_buys_two_adult_tickets_and_gets_the_pdf(
    page, browser, live_server, demo_museum, screenshot
):
    # given the demo museum and a guest on the home page
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Book your visit")
    screenshot(page, "home")

    # when the guest picks the exhibition, a day and a time
    page.locator("a.exhibition-link", has_text=EXHIBITION).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(EXHIBITION)
    screenshot(page, "calendar")
    mobile = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    mobile_page = mobile.new_page()
    mobile_page.goto(page.url)
    expect(mobile_page.locator(".calendar")).to_be_visible()
    screenshot(mobile_page, "calendar-mobile")
    mobile.close()

    day = _open_first_bookable_day_after_today(page)
    expect(page.get_by_role("heading", level=2)).to_have_text(re.compile(f"{day.day} "))
    screenshot(page, "day")
    first_slot = page.locator("a.slot").first
    slot_time = first_slot.locator(".time").inner_text()
    first_slot.click()

    # and asks for two adult tickets, gives a name and an e-mail, leaves the box unticked
    expect(page.locator("p.when")).to_contain_text(slot_time)
    page.get_by_label("Adult", exact=True).fill("2")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill("ada@visitor.example")
    expect(page.get_by_role("checkbox")).not_to_be_checked()
    screenshot(page, "checkout")
    page.get_by_role("button", name="Continue").click()

    # and pays on the pay page, then on the demo provider's page
    expect(page.get_by_role("heading", level=1)).to_have_text("Check and pay")
    expect(page.locator("table.summary tfoot")).to_contain_text("28.00")
    page.get_by_role("button", name="Pay (demo — no money moves)").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo payment provider")
    page.get_by_role("button", name="Pay (demo — no money moves)").click()

    # then the order page thanks the guest
    expect(page.locator(".notice.ok")).to_contain_text("Thank you")
    expect(page.locator(".notice.ok")).to_contain_text("ada@visitor.example")
    screenshot(page, "order")
    order = Order.objects.get(buyer__email="ada@visitor.example")
    assert page.url.endswith(f"/order/{order.access_token}/")
    assert order.status == Order.Status.PAID
    assert order.payment_method == Order.PaymentMethod.DEMO
    assert order.total_cents == 2800
    assert order.name == "Ada Lovelace"
    tickets = list(order.tickets.select_related("time_slot", "ticket_type").order_by("pk"))
    assert [t.status for t in tickets] == [Ticket.Status.VALID, Ticket.Status.VALID]
    assert {t.ticket_type.kind for t in tickets} == {"adult"}
    assert {timezone.localtime(t.time_slot.starts_at).date() for t in tickets} == {day}
    assert {f"{timezone.localtime(t.time_slot.starts_at):%H:%M}" for t in tickets} == {slot_time}
    assert not NewsletterConsent.objects.filter(email="ada@visitor.example").exists()

    # and the downloaded PDF has one page per ticket whose QR code is that ticket's secret
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download tickets (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"tickets-{order.code}.pdf"
    pdf_bytes = download.path().read_bytes()
    assert pdf_bytes.startswith(b"%PDF-")
    assert _qr_codes_in_pdf(pdf_bytes) == [[t.secret] for t in tickets]

    # and one e-mail went to the guest with the same tickets attached as a PDF
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@visitor.example"]
    assert order.code in message.subject
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"tickets-{order.code}.pdf", "application/pdf")
    assert _qr_codes_in_pdf(content) == [[t.secret] for t in tickets]


def test_checkout_with_a_bad_email_shows_the_error_and_keeps_the_name(page, demo_museum):
    # given the checkout page of tomorrow's first slot
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    slot = (
        TimeSlot.objects.filter(exhibition__slug=EXHIBITION_SLUG, starts_at__date__gte=tomorrow)
        .order_by("starts_at")
        .first()
    )
    starts_at = timezone.localtime(slot.starts_at)
    page.goto(
        reverse(
            "ticketing:checkout",
            kwargs={
                "slug": EXHIBITION_SLUG,
                "day": f"{starts_at:%Y-%m-%d}",
                "hhmm": f"{starts_at:%H%M}",
            },
        )
    )

    # when the guest types a name and an e-mail address that is not one
    page.get_by_label("Adult", exact=True).fill("1")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail address").fill("grace.hopper.example")
    with page.expect_response(lambda r: r.request.method == "POST") as response_info:
        page.get_by_role("button", name="Continue").click()

    # then the form comes back with the error next to the e-mail and the name kept
    assert response_info.value.status == 400
    email_input = page.get_by_label("E-mail address")
    expect(email_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_email-err")).to_have_text("Enter a valid email address.")
    expect(page.get_by_label("Your name")).to_have_value("Grace Hopper")
    expect(email_input).to_have_value("grace.hopper.example")
    expect(page.get_by_label("Adult", exact=True)).to_have_value("1")
    # and nothing was ordered or sent
    assert Order.objects.count() == 0
    assert mail.outbox == []
