"""Museum cards: the calendar of validity, selling and paying, concurrent purchases."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connections
from django.utils import timezone

from accounts.models import CardPurchase, CardVisit, MuseumCard
from accounts.services.card_scans import CardScanResult, card_scan
from accounts.services.cards import (
    CardError,
    CardGift,
    card_order_place,
    card_purchases_apply,
    validity_end,
)
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.accounts.card_helpers import D, _state
from tests.ticketing.factories import SiteFactory
from ticketing.models import Order
from ticketing.payments.demo import DemoProvider
from ticketing.services.payments import Outcome, payment_event_handle, payment_start

pytestmark = pytest.mark.django_db


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
