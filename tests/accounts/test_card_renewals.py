"""Museum cards: renewals and gifts."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from accounts.models import CardPurchase, CardVisit, MuseumCard
from accounts.services.card_scans import CardScanResult, card_scan
from accounts.services.cards import (
    CardError,
    CardGift,
    card_end,
    card_gift_claim,
    card_gifts_send_due,
    card_order_place,
    card_purchases_apply,
)
from accounts.tasks import send_due_gift_cards
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.accounts.card_helpers import D, _renew, _state
from tests.ticketing.factories import SiteFactory
from ticketing.models import Order
from ticketing.payments.demo import DemoProvider
from ticketing.services.payments import Outcome, payment_event_handle, payment_start

pytestmark = pytest.mark.django_db


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
