"""Museum cards: scans at the door, the card PDF, the settlement."""

from __future__ import annotations

import csv
import io

import pypdfium2
import pytest
from django.core import mail

from accounts.documents import card_pdf, settlement_csv, settlement_pdf
from accounts.models import CardVisit, MuseumCard
from accounts.selectors import card_settlement
from accounts.services.card_scans import CardScanResult, card_scan
from accounts.services.cards import (
    card_end,
)
from museum.emails import email_send
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import at, desk_card
from tests.accounts.card_helpers import D, _state
from tests.ticketing.factories import SiteFactory

pytestmark = pytest.mark.django_db


# --- scans --------------------------------------------------------------------------------


def test_the_first_scan_activates_the_card_for_12_months_minus_a_day_and_records_a_visit():
    # given a card not yet activated and a site that allows a first visit
    card = desk_card()
    site = SiteFactory()
    now = at(D(2026, 3, 10), 11, 5)
    # when it is scanned there
    outcome = card_scan(code=card.secret, site=site, gate="North", now=now)
    # then it is valid from today for 12 months minus a day
    assert outcome.result == CardScanResult.VALID
    assert outcome.activated is True
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 3, 10), D(2027, 3, 9), 0)
    assert card.activated_at == now
    # and exactly one visit is recorded, with site, time and gate
    visit = CardVisit.objects.get()
    assert (visit.card_id, visit.site_id, visit.visited_at, visit.gate) == (
        card.pk,
        site.pk,
        now,
        "North",
    )
    event = AuditEvent.objects.get(action="card.activated")
    assert event.data["valid_until"] == "2027-03-09"


def test_a_second_scan_the_same_day_writes_a_second_visit_and_stays_valid():
    # given a card activated this morning
    card = desk_card()
    site = SiteFactory()
    card_scan(code=card.secret, site=site, now=at(D(2026, 3, 10), 10))
    # when it is scanned again in the afternoon
    outcome = card_scan(code=card.secret, site=site, now=at(D(2026, 3, 10), 15))
    # then it is valid, not activated again, and a second visit is recorded
    assert outcome.result == CardScanResult.VALID
    assert outcome.activated is False
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 3, 10), D(2027, 3, 9), 0)
    assert CardVisit.objects.filter(card=card).count() == 2
    assert AuditEvent.objects.filter(action="card.activated").count() == 1


def test_the_number_typed_by_hand_with_spaces_is_accepted():
    card = desk_card()
    typed = f"{card.number[:4]} {card.number[4:8]}-{card.number[8:]}\n"
    outcome = card_scan(code=typed, site=SiteFactory(), now=at(D(2026, 3, 10)))
    assert outcome.result == CardScanResult.VALID
    assert outcome.card.pk == card.pk


def test_the_last_valid_day_is_valid_and_the_day_after_is_expired_without_a_visit():
    # given a card valid until 2027-03-09
    card = desk_card()
    site = SiteFactory()
    card_scan(code=card.secret, site=site, now=at(D(2026, 3, 10)))
    # when it is scanned on its last day, then the day after
    last = card_scan(code=card.secret, site=site, now=at(D(2027, 3, 9), 16))
    after = card_scan(code=card.secret, site=site, now=at(D(2027, 3, 10), 10))
    # then the last day is valid and the day after expired, with no visit for it
    assert last.result == CardScanResult.VALID
    assert after.result == CardScanResult.EXPIRED
    assert after.card.valid_until == D(2027, 3, 9)
    assert CardVisit.objects.filter(card=card).count() == 2


def test_a_card_not_activated_is_refused_at_a_site_that_blocks_first_visits():
    # given a card not yet activated and a site where cards cannot start
    card = desk_card()
    blocked = SiteFactory(card_activation_allowed=False)
    before = _state(card)
    # when it is scanned there
    outcome = card_scan(code=card.secret, site=blocked, now=at(D(2026, 3, 10)))
    # then it is refused and nothing changed: no visit, not activated
    assert outcome.result == CardScanResult.NOT_ACTIVATED_BLOCKED
    assert _state(card) == before
    assert CardVisit.objects.count() == 0
    assert AuditEvent.objects.filter(action="card.activated").count() == 0


def test_an_activated_card_is_valid_at_a_site_that_blocks_first_visits():
    card = desk_card()
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2026, 3, 10)))
    blocked = SiteFactory(card_activation_allowed=False)
    outcome = card_scan(code=card.secret, site=blocked, now=at(D(2026, 4, 1)))
    assert outcome.result == CardScanResult.VALID
    assert CardVisit.objects.filter(site=blocked).count() == 1


def test_an_ended_card_answers_ended_and_records_no_visit():
    # given an active card that is then ended (erasure request)
    card = desk_card()
    site = SiteFactory()
    card_scan(code=card.secret, site=site, now=at(D(2026, 3, 10)))
    card_end(card=card, reason="erasure request", now=at(D(2026, 3, 11)))
    # when it is scanned
    outcome = card_scan(code=card.secret, site=site, now=at(D(2026, 3, 12)))
    # then it answers ENDED and writes no visit
    assert outcome.result == CardScanResult.ENDED
    assert CardVisit.objects.count() == 1
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.ENDED
    assert card.end_reason == "erasure request"
    assert AuditEvent.objects.filter(action="card.ended", subject_id=str(card.pk)).count() == 1


def test_ending_an_ended_card_changes_nothing():
    card = desk_card()
    card_end(card=card, reason="first", now=at(D(2026, 3, 11)))
    card_end(card=card, reason="second", now=at(D(2026, 3, 12)))
    card.refresh_from_db()
    assert card.end_reason == "first"
    assert card.ended_at == at(D(2026, 3, 11))
    assert AuditEvent.objects.filter(action="card.ended").count() == 1


@pytest.mark.parametrize(
    "code", ["", "   ", "nope", "C" + "x" * 27, "123456789012", "C" * 500, "12345678901"]
)
def test_unknown_codes_are_unknown_and_record_nothing(code):
    desk_card()
    outcome = card_scan(code=code, site=SiteFactory(), now=at(D(2026, 3, 10)))
    assert outcome.result == CardScanResult.UNKNOWN
    assert outcome.card is None
    assert CardVisit.objects.count() == 0


# --- the card PDF -------------------------------------------------------------------------


def _decode(pdf: bytes) -> list[str]:
    import zxingcpp

    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == 1
    image = document[0].render(scale=4).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]


def test_the_card_pdf_is_one_card_sized_page_whose_qr_code_is_the_secret():
    card = desk_card(name="Aino Aalto")
    pdf = card_pdf(card)
    assert pdf.startswith(b"%PDF-")
    page = pypdfium2.PdfDocument(pdf)[0]
    width_mm, height_mm = (v / 72 * 25.4 for v in page.get_size())
    assert round(width_mm, 1) == 85.6
    assert round(height_mm, 1) == 54.0
    text = page.get_textpage().get_text_range()
    assert "Aino Aalto" in text
    assert f"{card.number[:4]} {card.number[4:8]} {card.number[8:]}" in text
    assert _decode(pdf) == [card.secret]


def test_the_card_e_mail_carries_the_pdf_whose_qr_code_is_the_secret():
    # given a card just sold with its e-mail queued
    card = desk_card()
    email = OutboxEmail.objects.get()
    # when the outbox sends it
    assert email_send(email_id=email.pk) is True
    # then the message has the card PDF and its QR code is the card's secret
    message = mail.outbox[0]
    assert message.to == ["aino@example.org"]
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"museum-card-{card.number}.pdf"
    assert mimetype == "application/pdf"
    assert _decode(content) == [card.secret]


# --- settlement ---------------------------------------------------------------------------


def test_the_settlement_counts_each_sites_visits_and_distinct_holders_of_the_month():
    # given visits by three cards at two sites in March, one in February, one in April
    main, harbour, quiet = SiteFactory(name="Main"), SiteFactory(name="Harbour"), SiteFactory()
    cards = [desk_card(email=f"h{i}@example.org") for i in range(3)]
    plan = [
        (cards[0], main, at(D(2026, 2, 28), 16)),
        (cards[0], main, at(D(2026, 3, 1), 0, 5)),
        (cards[0], main, at(D(2026, 3, 9))),
        (cards[1], main, at(D(2026, 3, 10))),
        (cards[1], harbour, at(D(2026, 3, 20))),
        (cards[2], harbour, at(D(2026, 3, 31), 23, 50)),
        (cards[2], harbour, at(D(2026, 4, 1), 0, 10)),
    ]
    for card, site, when in plan:
        assert card_scan(code=card.secret, site=site, now=when).result == CardScanResult.VALID
    # when the March settlement is read
    settlement = card_settlement(year=2026, month=3)
    # then each site's visits and distinct holders are those of March (local time)
    rows = {row.site_id: (row.visits, row.holders) for row in settlement.rows}
    assert rows[main.pk] == (3, 2)
    assert rows[harbour.pk] == (2, 2)
    assert rows[quiet.pk] == (0, 0)
    start, end = at(D(2026, 3, 1), 0), at(D(2026, 4, 1), 0)
    recorded = CardVisit.objects.filter(visited_at__gte=start, visited_at__lt=end).count()
    assert settlement.total_visits == recorded == 5
    # and the CSV says the same
    lines = list(csv.reader(io.StringIO(settlement_csv(settlement))))
    assert lines[0] == ["month", "site_id", "site", "visits", "distinct_holders"]
    by_site = {line[2]: (int(line[3]), line[4]) for line in lines[1:]}
    assert by_site["Main"] == (3, "2")
    assert by_site["Harbour"] == (2, "2")
    assert by_site["TOTAL"] == (5, "")
    # and so does the PDF
    text = pypdfium2.PdfDocument(settlement_pdf(settlement, language="en"))[0]
    text = text.get_textpage().get_text_range()
    assert "Main" in text and "Harbour" in text
    assert "Total" in text


def test_the_settlement_reads_with_one_query(django_assert_num_queries):
    SiteFactory.create_batch(3)
    with django_assert_num_queries(1):
        card_settlement(year=2026, month=3)
