"""The museum card's services: selling, first scan, renewals, gifts, ending, settlement."""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections import Counter

import pypdfium2
import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.utils import timezone

from accounts.documents import card_pdf, settlement_csv, settlement_pdf
from accounts.models import CardPurchase, CardVisit, MuseumCard
from accounts.selectors import card_settlement
from accounts.services.card_scans import CardScanResult, card_scan
from accounts.services.cards import (
    CardError,
    CardGift,
    card_end,
    card_gift_claim,
    card_gifts_send_due,
    card_order_place,
    card_purchases_apply,
    validity_end,
)
from accounts.tasks import send_due_gift_cards
from museum.emails import email_send
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.ticketing.factories import SiteFactory
from ticketing.models import Order
from ticketing.payments.demo import DemoProvider
from ticketing.services.payments import Outcome, payment_event_handle, payment_start

pytestmark = pytest.mark.django_db

D = dt.date


def _renew(card: MuseumCard, *, now: dt.datetime) -> Order:
    """A renewal sold at the desk (paid at once) at ``now``."""
    return card_order_place(
        product=card.product,
        holder_name=card.holder_name,
        holder_email=card.holder_email,
        language="en",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        renew_card=card,
        now=now,
    )


def _state(card: MuseumCard) -> tuple:
    card.refresh_from_db()
    return (card.status, card.valid_from, card.valid_until, card.months_pending)


# --- the calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        (D(2026, 3, 10), 12, D(2027, 3, 9)),
        (D(2026, 1, 1), 12, D(2026, 12, 31)),
        (D(2025, 12, 31), 12, D(2026, 12, 30)),
        (D(2024, 2, 29), 12, D(2025, 2, 28)),
        (D(2023, 3, 1), 12, D(2024, 2, 29)),
        (D(2026, 1, 31), 1, D(2026, 2, 28)),
        (D(2026, 5, 15), 24, D(2028, 5, 14)),
    ],
)
def test_validity_end_counts_calendar_months_and_ends_the_day_before(start, months, last_day):
    assert validity_end(starts_on=start, months=months) == last_day


# --- selling and paying -------------------------------------------------------------------


def test_a_desk_sale_issues_a_card_waiting_for_its_first_visit_and_mails_it():
    # given a card product at 69 €
    product = CardProductFactory(price_cents=6900)
    # when the desk sells one, paid in cash
    order = card_order_place(
        product=product,
        holder_name="  Aino   Aalto ",
        holder_email="Aino@Example.org",
        language="fi",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )
    # then the order is paid, has no site and no ticket, and one NEW card line
    assert order.status == Order.Status.PAID
    assert order.site is None
    assert order.total_cents == 6900
    assert order.tickets.count() == 0
    purchase = order.card_purchases.get()
    assert purchase.kind == CardPurchase.Kind.NEW
    assert purchase.months == 12
    assert purchase.applied_at is not None
    # and the card waits for its first visit with 12 months pending
    card = purchase.card
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    assert card.months_pending == 12
    assert card.valid_from is None and card.valid_until is None
    assert card.holder_name == "Aino Aalto"
    assert card.holder_email == "aino@example.org"
    assert len(card.number) == 12 and card.number.isdigit()
    # and the holder gets the card's e-mail (with its PDF), not a ticket e-mail
    emails = list(OutboxEmail.objects.all())
    assert [e.dedupe_key for e in emails] == [f"accounts.card_issued:{card.pk}:new"]
    assert emails[0].to == "aino@example.org"
    assert emails[0].language == "fi"
    assert emails[0].attachments == [{"kind": "accounts.card_pdf", "ref": str(card.pk)}]
    grouped = f"{card.number[:4]} {card.number[4:8]} {card.number[8:]}"
    assert grouped in emails[0].body_text
    assert card.number not in emails[0].body_text
    assert emails[0].subject.endswith(grouped)
    assert AuditEvent.objects.filter(action="card.new_paid", subject_id=str(card.pk)).count() == 1


def test_a_web_purchase_is_held_until_paid_through_the_demo_provider():
    # given a guest ordering a card on the web
    product = CardProductFactory(price_cents=6900)
    order = card_order_place(
        product=product,
        holder_name="Aino Aalto",
        holder_email="aino@example.org",
        language="en",
    )
    card = order.card_purchases.get().card
    # then the order is pending with a hold, and the card is not usable yet
    assert order.status == Order.Status.PENDING
    assert order.hold_expires_at is not None
    assert card.status == MuseumCard.Status.AWAITING_PAYMENT
    assert OutboxEmail.objects.count() == 0
    site = SiteFactory()
    assert card_scan(code=card.secret, site=site).result == CardScanResult.UNKNOWN
    # when the demo provider reports the payment
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    provider = DemoProvider()
    outcome = payment_event_handle(
        provider_name="demo",
        event=provider.parse_webhook(payload=provider.event_for(payment), headers={}),
    )
    # then the order is paid and the card issued and e-mailed
    assert outcome == Outcome.PAID
    order.refresh_from_db()
    card.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    assert list(OutboxEmail.objects.values_list("dedupe_key", flat=True)) == [
        f"accounts.card_issued:{card.pk}:new"
    ]


def test_a_late_card_payment_after_the_hold_expired_still_issues_the_card():
    # given a web card order whose hold ran out (a card holds no seats)
    order = card_order_place(
        product=CardProductFactory(),
        holder_name="Aino Aalto",
        holder_email="aino@example.org",
        language="en",
    )
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    late = order.hold_expires_at + dt.timedelta(minutes=30)
    # when the payment arrives late
    provider = DemoProvider()
    outcome = payment_event_handle(
        provider_name="demo",
        event=provider.parse_webhook(payload=provider.event_for(payment), headers={}),
        now=late,
    )
    # then it is accepted, not refunded
    assert outcome == Outcome.PAID
    card = order.card_purchases.get().card
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED


def test_applying_the_purchases_of_a_paid_order_twice_changes_nothing():
    # given an issued card
    card = desk_card()
    order = card.purchases.get().order
    before = _state(card)
    emails = OutboxEmail.objects.count()
    events = AuditEvent.objects.count()
    # when the purchases are applied again
    applied = card_purchases_apply(order=order)
    # then nothing is applied and nothing changes
    assert applied == 0
    assert _state(card) == before
    assert OutboxEmail.objects.count() == emails
    assert AuditEvent.objects.count() == events


def test_a_product_not_on_sale_is_refused_and_nothing_is_created():
    product = CardProductFactory(is_active=False)
    with pytest.raises(CardError):
        card_order_place(
            product=product, holder_name="A", holder_email="a@example.org", language="en"
        )
    assert Order.objects.count() == 0
    assert MuseumCard.objects.count() == 0


def test_a_gift_delivery_date_in_the_past_is_refused_and_nothing_is_created():
    with pytest.raises(CardError) as error:
        card_order_place(
            product=CardProductFactory(),
            holder_name="Buyer",
            holder_email="buyer@example.org",
            language="en",
            gift=CardGift(
                recipient_email="friend@example.org",
                deliver_on=timezone.localdate() - dt.timedelta(days=1),
            ),
        )
    assert error.value.field == "deliver_on"
    assert Order.objects.count() == 0
    assert MuseumCard.objects.count() == 0


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


# --- renewals -----------------------------------------------------------------------------


def test_a_renewal_extends_a_valid_card_by_12_months_across_the_year_boundary():
    # given a card activated on 1 January 2026: valid until 31 December 2026
    card = desk_card()
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2026, 1, 1)))
    assert _state(card)[2] == D(2026, 12, 31)
    # when a renewal is paid in November
    _renew(card, now=at(D(2026, 11, 20)))
    # then it runs 12 more months from its end: until 31 December 2027
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 1, 1), D(2027, 12, 31), 0)
    event = AuditEvent.objects.get(action="card.renewal_paid")
    assert event.data["before"]["valid_until"] == "2026-12-31"
    assert event.data["after"]["valid_until"] == "2027-12-31"


def test_a_renewal_ending_on_29_february_ends_on_28_february_the_next_year():
    # given a card activated on 1 March 2027: valid until 29 February 2028
    card = desk_card()
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2027, 3, 1)))
    assert _state(card)[2] == D(2028, 2, 29)
    # when it is renewed on its last day
    _renew(card, now=at(D(2028, 2, 29)))
    # then it is valid until 28 February 2029
    assert _state(card)[2] == D(2029, 2, 28)


def test_two_renewals_of_a_valid_card_add_24_months():
    card = desk_card()
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2026, 6, 15)))
    _renew(card, now=at(D(2026, 7, 1)))
    _renew(card, now=at(D(2026, 7, 2)))
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 6, 15), D(2029, 6, 14), 0)


def test_a_lapsed_card_renewal_restarts_at_the_next_first_visit():
    # given a card valid from 10 January 2024 to 9 January 2025, expired by March
    card = desk_card()
    site = SiteFactory()
    card_scan(code=card.secret, site=site, now=at(D(2024, 1, 10)))
    assert card_scan(code=card.secret, site=site, now=at(D(2025, 3, 1))).result == (
        CardScanResult.EXPIRED
    )
    # when a renewal is paid on 1 March 2025
    _renew(card, now=at(D(2025, 3, 1)))
    # then 12 months wait for the next visit; the old period is kept as it was
    assert _state(card) == (MuseumCard.Status.NOT_ACTIVATED, D(2024, 1, 10), D(2025, 1, 9), 12)
    # when the holder comes back on 2 April 2025
    outcome = card_scan(code=card.secret, site=site, now=at(D(2025, 4, 2)))
    # then the card is valid from that day for 12 months minus a day
    assert outcome.result == CardScanResult.VALID
    assert outcome.activated is True
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2025, 4, 2), D(2026, 4, 1), 0)
    card.refresh_from_db()
    assert card.activated_at == at(D(2024, 1, 10))  # the very first visit
    assert CardVisit.objects.filter(card=card).count() == 2


def test_a_renewal_before_the_first_visit_adds_to_the_pending_months():
    card = desk_card()
    _renew(card, now=at(D(2026, 2, 1)))
    assert _state(card) == (MuseumCard.Status.NOT_ACTIVATED, None, None, 24)
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2026, 3, 10)))
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 3, 10), D(2028, 3, 9), 0)


def test_an_ended_card_cannot_be_renewed_and_nothing_is_created():
    # given an ended card
    card = desk_card()
    card_end(card=card, reason="erasure")
    before = _state(card)
    orders, events, emails = Order.objects.count(), AuditEvent.objects.count(), _outbox()
    # when a renewal is ordered, at the desk or on the web
    for channel in (Order.Channel.DESK, Order.Channel.WEB):
        with pytest.raises(CardError) as error:
            card_order_place(
                product=card.product,
                holder_name=card.holder_name,
                holder_email=card.holder_email,
                language="en",
                channel=channel,
                payment_method=Order.PaymentMethod.CASH if channel == Order.Channel.DESK else "",
                renew_card=card,
            )
        # then it is refused with a message that says why, and nothing is written
        assert str(error.value.message) == "This card has ended: it can no longer be renewed."
    assert Order.objects.count() == orders
    assert CardPurchase.objects.count() == 1
    assert AuditEvent.objects.count() == events
    assert _outbox() == emails
    assert _state(card) == before


def test_a_renewal_is_refused_when_the_card_ended_since_it_was_read():
    # given a card read by the holder's page, then ended by staff through another copy
    card = desk_card()
    card_end(card=MuseumCard.objects.get(pk=card.pk), reason="fraud")
    assert card.status == MuseumCard.Status.NOT_ACTIVATED  # the stale copy
    orders = Order.objects.count()
    # when the renewal is ordered with the stale copy
    with pytest.raises(CardError) as error:
        _renew(card, now=timezone.now())
    # then the card's current state decides: refused, nothing created
    assert str(error.value.message) == "This card has ended: it can no longer be renewed."
    assert Order.objects.count() == orders
    assert CardPurchase.objects.filter(kind=CardPurchase.Kind.RENEWAL).count() == 0


def test_an_unpaid_card_cannot_be_renewed_and_nothing_is_created():
    order = card_order_place(
        product=CardProductFactory(), holder_name="A", holder_email="a@example.org", language="en"
    )
    card = order.card_purchases.get().card
    with pytest.raises(CardError) as error:
        _renew(card, now=timezone.now())
    assert str(error.value.message) == (
        "This card cannot be renewed yet: it is not paid or not claimed."
    )
    assert Order.objects.count() == 1
    assert CardPurchase.objects.count() == 1


def _pay_with_demo(order: Order, *, now: dt.datetime | None = None) -> Outcome:
    payment = payment_start(order=order, success_url="http://x/ok", cancel_url="http://x/no")
    provider = DemoProvider()
    return payment_event_handle(
        provider_name="demo",
        event=provider.parse_webhook(payload=provider.event_for(payment), headers={}),
        now=now,
    )


def _outbox() -> list[str]:
    return list(OutboxEmail.objects.order_by("pk").values_list("dedupe_key", flat=True))


def test_a_renewal_paid_after_the_card_ended_sends_no_e_mail_and_is_flagged_for_refund():
    # given a web renewal waiting for payment, then the card ended (erasure request)
    card = desk_card()
    order = card_order_place(
        product=card.product,
        holder_name=card.holder_name,
        holder_email="aino@example.org",
        language="en",
        renew_card=card,
    )
    card_end(card=card, reason="erasure")
    before = _state(card)
    emails = _outbox()
    # when the payment still arrives
    outcome = _pay_with_demo(order)
    # then the order is paid, the card unchanged and no renewal e-mail is sent
    assert outcome == Outcome.PAID
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert _state(card) == before
    assert _outbox() == emails
    assert not any("card_renewed" in key for key in _outbox())
    # and staff find an audit event telling them to refund the renewal
    purchase = order.card_purchases.get()
    assert purchase.applied_at is not None
    event = AuditEvent.objects.get(action="card.renewal_on_ended_card")
    assert event.subject_id == str(card.pk)
    assert event.data["order"] == order.code
    assert event.data["purchase"] == purchase.pk
    assert event.data["refund_due_cents"] == 6900
    assert event.data["currency"] == order.currency
    assert event.data["after"]["status"] == MuseumCard.Status.ENDED
    assert not AuditEvent.objects.filter(action="card.renewal_paid").exists()
    # and applying the order again adds nothing
    assert card_purchases_apply(order=order) == 0
    assert AuditEvent.objects.filter(action="card.renewal_on_ended_card").count() == 1


def test_a_desk_card_without_e_mail_renewed_on_the_web_confirms_to_the_buyers_e_mail():
    # given a card sold at the desk without an e-mail address, then used
    card = desk_card(email="")
    card_scan(code=card.secret, site=SiteFactory(), now=at(D(2026, 1, 10)))
    # when a renewal is ordered on the web with an e-mail address and paid
    with time_machine.travel(at(D(2026, 6, 1)), tick=False):
        order = card_order_place(
            product=card.product,
            holder_name=card.holder_name,
            holder_email="Renewer@Example.org",
            language="en",
            renew_card=card,
        )
        assert _pay_with_demo(order) == Outcome.PAID
    # then the card is extended and the confirmation goes to that address
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 1, 10), D(2028, 1, 9), 0)
    email = OutboxEmail.objects.get(dedupe_key__startswith="accounts.card_renewed:")
    assert email.to == "renewer@example.org"
    assert "It is now valid until 9 January 2028." in email.body_text
    # and the card's holder data is left as it was
    card.refresh_from_db()
    assert card.holder_email == ""


@pytest.mark.parametrize(
    ("months", "sentence"),
    [
        (1, "Its 1 new month starts at your next visit."),
        (12, "Its 12 new months start at your next visit."),
    ],
)
def test_the_renewal_e_mail_of_a_card_not_started_counts_its_months(months, sentence):
    # given a card not yet started, of a product valid for ``months`` months
    card = desk_card(product=CardProductFactory(validity_months=months))
    # when it is renewed
    _renew(card, now=at(D(2026, 2, 1)))
    # then the e-mail says how many months wait for the next visit, in good grammar
    email = OutboxEmail.objects.get(dedupe_key__startswith="accounts.card_renewed:")
    assert sentence in email.body_text
    assert sentence in email.body_html


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_simultaneous_first_scans_activate_once_and_each_writes_one_visit():
    # given a card not yet activated
    card = desk_card()
    site = SiteFactory()
    now = at(D(2026, 3, 10), 10)
    barrier = threading.Barrier(8)
    results: list[CardScanResult] = []
    lock = threading.Lock()

    def scan(gate: str) -> None:
        try:
            barrier.wait(timeout=10)
            result = card_scan(code=card.secret, site=site, gate=gate, now=now).result
            with lock:
                results.append(result)
        finally:
            connections.close_all()

    # when eight scanners read it at the same moment
    threads = [threading.Thread(target=scan, args=(f"gate-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then every scan is valid, the card started once, and each scan wrote one visit
    assert Counter(results) == {CardScanResult.VALID: 8}
    assert AuditEvent.objects.filter(action="card.activated").count() == 1
    assert _state(card) == (MuseumCard.Status.ACTIVE, D(2026, 3, 10), D(2027, 3, 9), 0)
    assert sorted(CardVisit.objects.values_list("gate", flat=True)) == [
        f"gate-{i}" for i in range(8)
    ]


# --- gifts --------------------------------------------------------------------------------


def _gift(*, deliver_on: dt.date | None, now: dt.datetime) -> MuseumCard:
    order = card_order_place(
        product=CardProductFactory(),
        holder_name="Bertil Buyer",
        holder_email="bertil@example.org",
        language="sv",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CARD_TERMINAL,
        gift=CardGift(
            recipient_email="Frida@Example.org",
            deliver_on=deliver_on,
            greeting="Grattis på födelsedagen!",
        ),
        now=now,
    )
    return order.card_purchases.get().card


def test_a_gift_is_mailed_on_its_delivery_day_then_claimed_into_the_recipients_name():
    # given a gift card bought on 1 June for delivery on 5 June
    bought = at(D(2026, 6, 1), 9)
    card = _gift(deliver_on=D(2026, 6, 5), now=bought)
    assert card.status == MuseumCard.Status.AWAITING_HOLDER
    assert card.months_pending == 12
    assert card.gift_claim_token
    assert OutboxEmail.objects.count() == 0
    # when the daily task runs the day before, nothing is sent
    with time_machine.travel(at(D(2026, 6, 4), 7, 5), tick=False):
        assert send_due_gift_cards() == 0
    assert OutboxEmail.objects.count() == 0
    # when it runs on the day, twice
    with time_machine.travel(at(D(2026, 6, 5), 7, 5), tick=False):
        assert send_due_gift_cards() == 1
        assert send_due_gift_cards() == 0
    # then the recipient has exactly one e-mail with the greeting and the claim link
    email = OutboxEmail.objects.get()
    card.refresh_from_db()
    assert email.to == "frida@example.org"
    assert email.language == "sv"
    assert "Grattis på födelsedagen!" in email.body_text
    assert f"/card/gift/{card.gift_claim_token}/" in email.body_text
    assert "Bertil Buyer" in email.subject
    assert card.gift_sent_at == at(D(2026, 6, 5), 7, 5)
    # and the unclaimed card does not admit anyone
    assert card_scan(code=card.secret, site=SiteFactory()).result == CardScanResult.UNKNOWN
    # when the recipient claims it into her own name
    token = card.gift_claim_token
    claimed = card_gift_claim(token=token, holder_name="Frida Friend", now=at(D(2026, 6, 6)))
    # then the card is hers and waits for her first visit; the link is spent
    assert claimed.pk == card.pk
    card.refresh_from_db()
    assert card.holder_name == "Frida Friend"
    assert card.holder_email == "frida@example.org"
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    assert card.gift_claim_token is None
    assert card.gift_claimed_at == at(D(2026, 6, 6))
    assert AuditEvent.objects.filter(action="card.gift_claimed").count() == 1
    # and she is sent her card
    assert OutboxEmail.objects.filter(
        dedupe_key=f"accounts.card_issued:{card.pk}:claimed", to="frida@example.org"
    ).exists()
    # when the same link is used again
    with pytest.raises(CardError):
        card_gift_claim(token=token, holder_name="Someone Else")
    # then nothing changed
    card.refresh_from_db()
    assert card.holder_name == "Frida Friend"
    assert AuditEvent.objects.filter(action="card.gift_claimed").count() == 1


def test_a_gift_without_a_delivery_date_is_mailed_at_once():
    now = timezone.now()
    card = _gift(deliver_on=None, now=now)
    email = OutboxEmail.objects.get()
    assert email.dedupe_key == f"accounts.card_gift:{card.pk}"
    assert email.to == "frida@example.org"
    assert card_gifts_send_due() == 0


def test_a_gift_claim_with_an_unknown_token_is_refused():
    with pytest.raises(CardError):
        card_gift_claim(token="G" + "x" * 30, holder_name="Me")
    with pytest.raises(CardError):
        card_gift_claim(token="", holder_name="Me")


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
