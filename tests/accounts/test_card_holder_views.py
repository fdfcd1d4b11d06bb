"""The museum card pages: the holder's page, gift claims, renewal, the status vocabulary."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import CardPurchase, MuseumCard
from accounts.services.card_scans import card_scan
from accounts.services.cards import CardGift, card_end, card_order_place
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.accounts.card_view_helpers import BUY, _grouped, _qr_of
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import (
    SiteFactory,
)
from ticketing.models import Order

pytestmark = pytest.mark.django_db


# --- the holder's page --------------------------------------------------------------------


def test_the_card_page_by_its_link_shows_data_qr_validity_and_visits(client):
    card = desk_card(name="Aino Aalto")
    site = SiteFactory(name="Harbour Warehouse")
    card_scan(code=card.secret, site=site, now=at(dt.date(2026, 3, 10), 11))
    response = client.get(reverse("cards:detail", kwargs={"token": card.access_token}))
    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert "Aino Aalto" in html
    assert "aino@example.org" in html
    assert f"{card.number[:4]} {card.number[4:8]} {card.number[8:]}" in html
    assert "<svg" in html
    assert "9 March 2027" in html
    assert "Harbour Warehouse" in html
    assert "Tue 10 Mar 2026" in html
    assert reverse("cards:renew", kwargs={"token": card.access_token}) in html


@pytest.mark.parametrize("token", ["nope", "C" + "x" * 27, "x" * 300])
def test_a_wrong_card_link_is_404(client, token):
    desk_card()
    assert client.get(reverse("cards:detail", kwargs={"token": token})).status_code == 404
    assert client.get(reverse("cards:pdf", kwargs={"token": token})).status_code == 404


def test_another_persons_card_is_not_found_by_its_number_or_secret(client):
    card = desk_card()
    for guess in (card.number, card.secret, str(card.pk), str(card.public_id)):
        assert client.get(reverse("cards:detail", kwargs={"token": guess})).status_code == 404


def test_an_unpaid_cards_link_is_404(client):
    order = card_order_place(
        product=CardProductFactory(),
        holder_name="A",
        holder_email="a@example.org",
        language="en",
    )
    card = order.card_purchases.get().card
    assert (
        client.get(reverse("cards:detail", kwargs={"token": card.access_token})).status_code == 404
    )


def test_the_printable_card_is_a_pdf_whose_qr_code_is_the_secret(client):
    card = desk_card()
    response = client.get(reverse("cards:pdf", kwargs={"token": card.access_token}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert _qr_of(response.content) == [card.secret]


def test_my_card_page_lists_only_my_own_cards(client):
    # given two account holders with a card each
    ada = UserFactory(email="ada@example.org")
    bob = UserFactory(email="bob@example.org")
    mine = desk_card(name="Ada Lovelace", email="ada@example.org")
    theirs = desk_card(name="Bob Builder", email="bob@example.org")
    MuseumCard.objects.filter(pk=mine.pk).update(holder=ada)
    MuseumCard.objects.filter(pk=theirs.pk).update(holder=bob)
    # when Ada opens her card page
    client.force_login(ada)
    html = client.get(reverse("cards:mine")).content.decode()
    # then she sees her card and not Bob's
    assert "Ada Lovelace" in html
    assert mine.number[:4] + " " + mine.number[4:8] in html
    assert "Bob Builder" not in html
    assert theirs.access_token not in html


def test_my_card_page_needs_signing_in(client):
    response = client.get(reverse("cards:mine"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_renew_button_places_a_renewal_order_and_goes_to_payment(client):
    card = desk_card()
    response = client.post(
        reverse("cards:renew", kwargs={"token": card.access_token}),
        {"email": "aino@example.org"},
    )
    renewal = CardPurchase.objects.get(kind=CardPurchase.Kind.RENEWAL)
    assert renewal.card_id == card.pk
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "ticketing:order_pay", kwargs={"token": renewal.order.access_token}
    )
    assert renewal.order.status == Order.Status.PENDING
    assert renewal.order.email == "aino@example.org"


def test_renewing_through_a_wrong_link_is_404_and_creates_nothing(client):
    desk_card()
    orders = Order.objects.count()
    response = client.post(reverse("cards:renew", kwargs={"token": "C" + "y" * 27}))
    assert response.status_code == 404
    assert Order.objects.count() == orders


# --- gift claim ---------------------------------------------------------------------------


def _gift_card() -> MuseumCard:
    order = card_order_place(
        product=CardProductFactory(),
        holder_name="Bertil Buyer",
        holder_email="bertil@example.org",
        language="en",
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        gift=CardGift(recipient_email="frida@example.org", greeting="Enjoy"),
    )
    return order.card_purchases.get().card


def test_the_gift_link_puts_the_card_in_the_recipients_name_once(client):
    card = _gift_card()
    url = reverse("cards:gift_claim", kwargs={"token": card.gift_claim_token})
    page = client.get(url)
    assert page.status_code == 200
    assert "Enjoy" in page.content.decode()
    response = client.post(url, {"holder_name": "Frida Friend"})
    card.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("cards:detail", kwargs={"token": card.access_token})
    assert (card.holder_name, card.holder_email, card.status) == (
        "Frida Friend",
        "frida@example.org",
        MuseumCard.Status.NOT_ACTIVATED,
    )
    # the same link again: gone, nothing changes
    again = client.post(url, {"holder_name": "Somebody Else"})
    assert again.status_code == 404
    card.refresh_from_db()
    assert card.holder_name == "Frida Friend"


def test_a_gift_claim_without_a_name_is_refused_and_the_card_still_waits(client):
    card = _gift_card()
    url = reverse("cards:gift_claim", kwargs={"token": card.gift_claim_token})
    response = client.post(url, {"holder_name": "   "})
    assert response.status_code == 400
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.AWAITING_HOLDER


def test_a_signed_in_recipient_becomes_the_holder_account(client):
    card = _gift_card()
    frida = UserFactory(email="frida@example.org")
    client.force_login(frida)
    client.post(
        reverse("cards:gift_claim", kwargs={"token": card.gift_claim_token}),
        {"holder_name": "Frida Friend"},
    )
    card.refresh_from_db()
    assert card.holder == frida


# --- renewal: the e-mail address, the months, an ended card -------------------------------


def _card_page(client, card: MuseumCard) -> str:
    return client.get(reverse("cards:detail", kwargs={"token": card.access_token})).content.decode()


def _renew_email_input(html: str, card: MuseumCard) -> str:
    """The renewal form's e-mail input of ``card`` on a page."""
    pattern = rf'<input type="email" name="email"[^>]*id="id_renew_{card.number}_email">'
    [field] = re.findall(pattern, html)
    return field


def test_renewing_a_desk_card_without_e_mail_asks_for_one(client):
    # given a card sold at the desk without an e-mail address
    card = desk_card(email="")
    url = reverse("cards:renew", kwargs={"token": card.access_token})
    # when its page is shown, the renewal asks for an e-mail address, empty
    field = _renew_email_input(_card_page(client, card), card)
    assert "required" in field
    assert "value=" not in field
    # when the holder renews without one
    refused = client.post(url, {"email": ""})
    # then the page says so and nothing is ordered
    assert refused.status_code == 400
    assert "This field is required." in refused.content.decode()
    assert 'aria-invalid="true"' in refused.content.decode()
    assert not CardPurchase.objects.filter(kind=CardPurchase.Kind.RENEWAL).exists()
    assert Order.objects.count() == 1
    # when the holder gives one
    response = client.post(url, {"email": "Walk.In@Example.org"})
    # then the renewal is ordered with that address and goes to the payment
    renewal = CardPurchase.objects.get(kind=CardPurchase.Kind.RENEWAL)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "ticketing:order_pay", kwargs={"token": renewal.order.access_token}
    )
    assert renewal.order.email == "walk.in@example.org"
    assert renewal.card_id == card.pk


def test_the_renewal_e_mail_is_prefilled_with_the_cards_address(client):
    card = desk_card(email="aino@example.org")
    field = _renew_email_input(_card_page(client, card), card)
    assert 'value="aino@example.org"' in field


def test_renewing_an_ended_card_is_refused_with_a_message_and_creates_nothing(client):
    # given an ended card
    card = desk_card()
    card_end(card=card, reason="erasure")
    # then its page offers no renewal
    assert reverse("cards:renew", kwargs={"token": card.access_token}) not in _card_page(
        client, card
    )
    orders = Order.objects.count()
    # when a renewal is posted anyway (an old page)
    response = client.post(
        reverse("cards:renew", kwargs={"token": card.access_token}), {"email": "aino@example.org"}
    )
    # then it is refused with the reason and nothing is created
    assert response.status_code == 400
    assert "This card has ended: it can no longer be renewed." in response.content.decode()
    assert Order.objects.count() == orders
    assert not CardPurchase.objects.filter(kind=CardPurchase.Kind.RENEWAL).exists()


@pytest.mark.parametrize(
    ("months", "button", "validity"),
    [
        (1, "Renew for 1 month (", "valid for 1 month from your first visit"),
        (6, "Renew for 6 months (", "valid for 6 months from your first visit"),
        (12, "Renew for 12 months (", "valid for 12 months from your first visit"),
    ],
)
def test_the_renew_button_and_the_buy_page_state_the_products_validity(
    client, months, button, validity
):
    # given a card product valid for ``months`` months
    product = CardProductFactory(validity_months=months)
    card = desk_card(product=product)
    # then the card page's renewal and the buy page say so
    html = _card_page(client, card)
    assert button in html
    if months != 12:
        assert "12 months" not in html
    assert validity in client.get(BUY).content.decode()


# --- one vocabulary for the card's status, its number in blocks of four ------------------


def test_my_account_and_the_card_pages_name_the_status_alike_and_group_the_number(client):
    # given an account holding a card not yet started, one valid and one expired
    user = UserFactory(email="ada@example.org")
    waiting, valid, expired = (desk_card(email="ada@example.org") for _ in range(3))
    site = SiteFactory()
    card_scan(code=valid.secret, site=site)
    card_scan(code=expired.secret, site=site, now=timezone.now() - dt.timedelta(days=800))
    MuseumCard.objects.filter(pk__in=[waiting.pk, valid.pk, expired.pk]).update(holder=user)
    client.force_login(user)
    # when My account and the cards' pages are shown
    account = client.get(reverse("my_account:home")).content.decode()
    mine = client.get(reverse("cards:mine")).content.decode()
    # then both use the same words, and the number in blocks of four
    for card, word in [(waiting, "not yet activated"), (valid, "activated"), (expired, "expired")]:
        assert f"{_grouped(card.number)} · {word}" in account
        assert card.number not in account
        assert f'<dd class="card-status">{word.capitalize()}</dd>' in _card_page(client, card)
    assert mine.count('<dd class="card-status">') == 3
    for word in ("Not yet activated", "Activated", "Expired"):
        assert f'<dd class="card-status">{word}</dd>' in mine
    assert ">Valid<" not in mine
