"""The museum card pages: buying, paying, the holder's page, renewal, gifts, admin."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pypdfium2
import pytest
import zxingcpp
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.admin_cards import CardProductAdmin
from accounts.models import CardProduct, CardPurchase, CardVisit, MuseumCard
from accounts.services.card_scans import card_scan
from accounts.services.cards import CardGift, card_end, card_order_place
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.accounts.factories import UserFactory
from tests.staff import staff_user
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.models import Order, Payment
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

BUY = reverse("cards:buy")


def _buy_form(**overrides) -> dict:
    return {
        "holder_name": "Aino Aalto",
        "holder_email": "aino@example.org",
        "recipient_email": "",
        "deliver_on": "",
        "greeting": "",
        **overrides,
    }


def _grouped(number: str) -> str:
    """A card number as people read it: three blocks of four digits."""
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def _qr_of(pdf: bytes) -> list[str]:
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=4).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]


# --- buying -------------------------------------------------------------------------------


def test_a_guest_buys_a_card_pays_with_the_demo_provider_and_gets_it_by_e_mail(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    # given a card on sale
    product = CardProductFactory(price_cents=6900)
    # when a guest fills in the buy page
    page = client.get(BUY)
    assert page.status_code == 200
    assert "69,00" in page.content.decode() or "69.00" in page.content.decode()
    response = client.post(BUY, _buy_form(product=product.pk))
    # then a held web order with one new card exists and the pay page follows
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "ticketing:order_pay", kwargs={"token": order.access_token}
    )
    assert (order.status, order.channel, order.site, order.total_cents) == (
        Order.Status.PENDING,
        Order.Channel.WEB,
        None,
        6900,
    )
    purchase = order.card_purchases.get()
    assert purchase.kind == CardPurchase.Kind.NEW
    card = purchase.card
    assert card.status == MuseumCard.Status.AWAITING_PAYMENT
    pay_page = client.get(response["Location"])
    assert "Aino Aalto" in pay_page.content.decode()
    assert "Tickets in this order" not in pay_page.content.decode()
    assert "Total (VAT included): €\u00a069.00" in pay_page.content.decode()
    # when the buyer pays on the demo provider's page
    pay = client.post(response["Location"])
    payment = Payment.objects.get()
    assert pay["Location"] == reverse("ticketing:demo_pay", kwargs={"reference": payment.reference})
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(pay["Location"])
    # then the order page shows the paid card with a link to its page
    assert done["Location"] == reverse(
        "ticketing:order_detail", kwargs={"token": order.access_token}
    )
    order_page = client.get(done["Location"]).content.decode()
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    assert _grouped(card.number) in order_page
    assert card.number not in order_page
    assert reverse("cards:detail", kwargs={"token": card.access_token}) in order_page
    assert "Download tickets" not in order_page
    # and no empty ticket table, only the total
    assert "Tickets in this order" not in order_page
    assert ">Ticket</th>" not in order_page
    assert "Total (VAT included): €\u00a069.00" in order_page
    # and the card was e-mailed with its PDF, whose QR code is the card's secret
    assert [m.to for m in mailoutbox] == [["aino@example.org"]]
    [(filename, content, mimetype)] = mailoutbox[0].attachments
    assert filename == f"museum-card-{card.number}.pdf"
    assert _qr_of(content) == [card.secret]
    assert OutboxEmail.objects.get().status == OutboxEmail.Status.SENT


def test_a_signed_in_buyer_is_prefilled_and_becomes_the_cards_holder(client):
    product = CardProductFactory()
    user = UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    page = client.get(BUY)
    assert page.context["form"]["holder_name"].value() == "Ada Lovelace"
    assert page.context["form"]["holder_email"].value() == "ada@example.org"
    client.post(BUY, _buy_form(product=product.pk, holder_email="ada@example.org"))
    card = MuseumCard.objects.get()
    assert card.holder == user
    assert Order.objects.get().user == user


def test_a_gift_without_a_recipient_is_refused_keeps_what_was_typed_and_creates_nothing(client):
    product = CardProductFactory()
    response = client.post(
        BUY, _buy_form(product=product.pk, is_gift="on", greeting="Happy birthday!")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter the recipient" in html
    assert 'aria-describedby="id_recipient_email_helptext id_recipient_email_error"' in html
    assert "Happy birthday!" in html
    assert "Aino Aalto" in html
    assert Order.objects.count() == 0
    assert MuseumCard.objects.count() == 0


def test_a_gift_bought_on_the_web_goes_to_the_pay_page_with_the_recipient(client):
    product = CardProductFactory()
    deliver_on = timezone.localdate() + dt.timedelta(days=5)
    response = client.post(
        BUY,
        _buy_form(
            product=product.pk,
            is_gift="on",
            recipient_email="friend@example.org",
            deliver_on=deliver_on.isoformat(),
            greeting="For you",
        ),
    )
    order = Order.objects.get()
    assert response.status_code == 302
    card = order.card_purchases.get(kind=CardPurchase.Kind.GIFT).card
    assert (card.is_gift, card.gift_recipient_email, card.gift_deliver_on, card.gift_greeting) == (
        True,
        "friend@example.org",
        deliver_on,
        "For you",
    )
    assert card.holder_name == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"holder_email": "not-an-email"},
        {"holder_name": ""},
        {"product": "999999"},
        {"product": "abc"},
        {"is_gift": "on", "recipient_email": "x@example.org", "deliver_on": "2001-01-01"},
        {"is_gift": "on", "recipient_email": "x@example.org", "deliver_on": "99999-99-99"},
        {"greeting": "x" * 5000, "is_gift": "on", "recipient_email": "x@example.org"},
    ],
)
def test_bad_input_on_the_buy_page_is_a_400_with_nothing_created(client, bad):
    product = CardProductFactory()
    response = client.post(BUY, {**_buy_form(product=product.pk), **bad})
    assert response.status_code == 400
    assert Order.objects.count() == 0


def test_two_products_on_sale_are_offered_as_a_choice(client):
    # given an annual card and a cheaper youth card on sale, and one withdrawn
    annual = CardProductFactory(name="Museum card", price_cents=6900)
    youth = CardProductFactory(name="Youth card", price_cents=2900)
    CardProductFactory(name="Old card", is_active=False)
    # when the buy page is shown, both are offered, the withdrawn one is not
    html = client.get(BUY).content.decode()
    assert f'type="radio" name="product" value="{annual.pk}"' in html
    assert f'type="radio" name="product" value="{youth.pk}"' in html
    assert "Old card" not in html
    # and choosing the youth card orders that one at its price
    client.post(BUY, _buy_form(product=youth.pk))
    order = Order.objects.get()
    assert order.total_cents == 2900
    assert order.card_purchases.get().card.product == youth


def test_a_card_order_has_no_tickets_pdf(client):
    card = desk_card()
    order = card.purchases.get().order
    response = client.get(reverse("ticketing:order_pdf", kwargs={"token": order.access_token}))
    assert response.status_code == 404


def test_the_buy_page_without_a_product_on_sale_says_so(client):
    CardProductFactory(is_active=False)
    response = client.get(BUY)
    assert response.status_code == 200
    assert "not on sale" in response.content.decode()


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


# --- admin --------------------------------------------------------------------------------


def _visits_in_march() -> list[CardVisit]:
    main, harbour = SiteFactory(name="Main"), SiteFactory(name="Harbour")
    a, b = desk_card(email="a@example.org"), desk_card(email="b@example.org")
    for card, site, day in [(a, main, 2), (a, main, 3), (b, main, 4), (b, harbour, 5)]:
        card_scan(code=card.secret, site=site, now=at(dt.date(2026, 3, day)))
    return list(CardVisit.objects.all())


def test_the_manager_reads_the_settlement_as_a_page_csv_and_pdf(client):
    visits = _visits_in_march()
    client.force_login(staff_user("manager@museum.example", "Manager"))
    url = reverse("admin:accounts_museumcard_settlement")
    page = client.get(url, {"month": "2026-03"})
    assert page.status_code == 200
    assert page.context["settlement"].total_visits == len(visits) == 4
    response = client.get(url, {"month": "2026-03", "format": "csv"})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    totals = {row[2]: row[3:] for row in rows[1:]}
    assert totals["Main"] == ["3", "2"]
    assert totals["Harbour"] == ["1", "1"]
    assert totals["TOTAL"] == ["4", ""]
    pdf = client.get(url, {"month": "2026-03", "format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf"
    text = pypdfium2.PdfDocument(pdf.content)[0].get_textpage().get_text_range()
    assert "Main" in text and "Harbour" in text


@pytest.mark.parametrize("month", ["garbage", "2026-13", "0-0", "99999-01", ""])
def test_the_settlement_with_a_bad_month_falls_back_to_last_month(client, month):
    client.force_login(staff_user("manager@museum.example", "Manager"))
    response = client.get(reverse("admin:accounts_museumcard_settlement"), {"month": month})
    assert response.status_code == 200
    first = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    assert response.context["settlement"].first_day == first


def test_the_settlement_is_refused_without_its_permission(client):
    _visits_in_march()
    client.force_login(staff_user("desk@museum.example", "Front desk"))
    url = reverse("admin:accounts_museumcard_settlement")
    assert client.get(url, {"month": "2026-03"}).status_code == 403
    assert client.get(url, {"month": "2026-03", "format": "csv"}).status_code == 403


def test_the_end_card_action_asks_for_a_reason_then_ends_the_card(client):
    card = desk_card()
    manager = staff_user("manager@museum.example", "Manager")
    client.force_login(manager)
    url = reverse("admin:accounts_museumcard_changelist")
    ask = client.post(url, {"action": "end_cards", "_selected_action": [card.pk]})
    assert ask.status_code == 200
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    done = client.post(
        url,
        {
            "action": "end_cards",
            "_selected_action": [card.pk],
            "confirm": "yes",
            "reason": "Lost and replaced",
        },
    )
    assert done.status_code == 302
    card.refresh_from_db()
    assert (card.status, card.end_reason) == (MuseumCard.Status.ENDED, "Lost and replaced")
    event = AuditEvent.objects.get(action="card.ended")
    assert event.actor == manager


def test_the_desk_sells_a_card_paid_at_the_desk(client):
    product = CardProductFactory()
    desk = staff_user("desk@museum.example", "Front desk")
    client.force_login(desk)
    url = reverse("admin:accounts_museumcard_sell")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "product": product.pk,
            "holder_name": "Walk In",
            "holder_email": "",
            "language": "nl",
            "payment_method": Order.PaymentMethod.CASH,
        },
    )
    assert response.status_code == 200
    card = MuseumCard.objects.get()
    assert response.context["sold"] == card
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    order = card.purchases.get().order
    assert (order.channel, order.status, order.created_by, order.payment_method) == (
        Order.Channel.DESK,
        Order.Status.PAID,
        desk,
        Order.PaymentMethod.CASH,
    )
    pdf = client.get(reverse("admin:accounts_museumcard_pdf", args=[card.pk]))
    assert _qr_of(pdf.content) == [card.secret]


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


# --- the card shop in the header and on the home page ------------------------------------


def test_the_header_and_the_home_page_link_the_card_shop_while_a_card_is_on_sale(client):
    CardProductFactory()
    home = client.get(reverse("ticketing:home")).content.decode()
    header = home.split("</header>")[0]
    assert f'<a href="{BUY}">Museum card</a>' in header
    assert 'id="card-shop-h"' in home
    assert f'<a class="button" href="{BUY}">Buy a museum card</a>' in home
    # and on another page too
    assert f'<a href="{BUY}">Museum card</a>' in client.get(BUY).content.decode()


def test_no_card_shop_link_without_a_card_on_sale(client):
    CardProductFactory(is_active=False)
    home = client.get(reverse("ticketing:home")).content.decode()
    assert f'href="{BUY}"' not in home
    assert 'id="card-shop-h"' not in home


def test_the_card_shop_link_asks_the_database_once_then_the_cache(client):
    # given a card on sale, the home page shown once
    CardProductFactory()
    home = reverse("ticketing:home")
    client.get(home)
    # when pages are shown again
    with CaptureQueriesContext(connection) as queries:
        assert f'href="{BUY}"' in client.get(home).content.decode()
        assert f'href="{BUY}"' in client.get(reverse("account_login")).content.decode()
    # then no query asks for card products
    assert not [q for q in queries.captured_queries if "accounts_cardproduct" in q["sql"]]


def test_taking_the_product_off_sale_in_the_admin_removes_the_link(client, rf):
    # given the link shown while a card is on sale
    product = CardProductFactory()
    home = reverse("ticketing:home")
    assert f'href="{BUY}"' in client.get(home).content.decode()
    # when the manager takes it off sale in the admin
    product.is_active = False
    request = rf.post("/")
    request.user = staff_user("manager@museum.example", "Manager")
    CardProductAdmin(CardProduct, admin.site).save_model(request, product, form=None, change=True)
    # then the next page has no link
    assert f'href="{BUY}"' not in client.get(home).content.decode()


# --- admin: settlement total, the front desk box, desk renewals, the card list -----------


def test_the_settlement_total_is_a_readable_body_row(client):
    _visits_in_march()
    client.force_login(staff_user("manager@museum.example", "Manager"))
    html = client.get(reverse("admin:accounts_museumcard_settlement"), {"month": "2026-03"})
    body = html.content.decode()
    assert "<tfoot>" not in body
    assert (
        '<tr class="settlement-total"><th scope="row"><strong>Total</strong></th>'
        "<td><strong>4</strong></td><td></td></tr></tbody>"
    ) in body


def test_the_front_desk_box_links_the_card_sale_for_those_who_may_sell(client):
    sell = reverse("admin:accounts_museumcard_sell")
    client.force_login(staff_user("desk@museum.example", "Front desk"))
    desk_box = client.get(reverse("admin:index")).content.decode().split('id="front-desk"')[1]
    assert f'<a href="{sell}">Sell a museum card</a>' in desk_box.split("</table>")[0]


def test_the_front_desk_box_has_no_card_sale_link_without_the_desk_permission(client):
    # given staff who may see today's slots but not sell
    viewer = staff_user("viewer@museum.example")
    viewer.user_permissions.add(Permission.objects.get(codename="view_timeslot"))
    client.force_login(viewer)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="front-desk"' in html
    assert reverse("admin:accounts_museumcard_sell") not in html


def _desk_renewal(client, number: str, **overrides):
    return client.post(
        reverse("admin:accounts_museumcard_sell"),
        {
            "sale": "renewal",
            "renewal-number": number,
            "renewal-product": CardProduct.objects.get().pk,
            "renewal-email": "",
            "renewal-payment_method": Order.PaymentMethod.CARD_TERMINAL,
            **overrides,
        },
    )


def test_the_desk_renews_a_card_found_by_its_number(client):
    # given a card without e-mail, valid from 10 March 2026 to 9 March 2027
    card = desk_card(email="")
    card_scan(code=card.secret, site=SiteFactory(), now=at(dt.date(2026, 3, 10)))
    desk = staff_user("desk@museum.example", "Front desk")
    client.force_login(desk)
    # when the desk renews it, typing the number as printed, and the holder's e-mail
    response = _desk_renewal(client, _grouped(card.number), **{"renewal-email": "a@example.org"})
    # then the renewal is paid at the desk and the card runs 12 more months
    assert response.status_code == 200
    assert response.context["renewed"] == card
    renewal = CardPurchase.objects.get(kind=CardPurchase.Kind.RENEWAL)
    assert renewal.card_id == card.pk
    order = renewal.order
    assert (order.channel, order.status, order.created_by, order.payment_method) == (
        Order.Channel.DESK,
        Order.Status.PAID,
        desk,
        Order.PaymentMethod.CARD_TERMINAL,
    )
    assert order.email == "a@example.org"
    card.refresh_from_db()
    assert card.valid_until == dt.date(2028, 3, 9)
    html = response.content.decode()
    assert f"Card {_grouped(card.number)} of Aino Aalto renewed: valid until 9 March 2028." in html
    # and the confirmation goes to the address given
    assert OutboxEmail.objects.get(dedupe_key__startswith="accounts.card_renewed:").to == (
        "a@example.org"
    )
    # and the new-card form is untouched: no new card
    assert MuseumCard.objects.count() == 1


def test_a_desk_renewal_of_an_unknown_number_is_refused_and_creates_nothing(client):
    # given one card, and numbers that are not its own
    card = desk_card()
    other = str((int(card.number) + 1) % 10**12).zfill(12)
    client.force_login(staff_user("desk@museum.example", "Front desk"))
    orders = Order.objects.count()
    for number in (_grouped(other), "12", "not a number"):
        response = _desk_renewal(client, number)
        assert "No museum card has this number." in response.content.decode()
        assert response.context["renewed"] is None
    assert Order.objects.count() == orders


def test_a_desk_renewal_of_an_ended_card_is_refused_and_creates_nothing(client):
    card = desk_card()
    card_end(card=card, reason="erasure")
    client.force_login(staff_user("desk@museum.example", "Front desk"))
    orders = Order.objects.count()
    response = _desk_renewal(client, card.number)
    assert "This card has ended: it can no longer be renewed." in response.content.decode()
    assert response.context["renewed"] is None
    assert Order.objects.count() == orders


def test_a_desk_renewal_needs_the_desk_permission(client):
    card = desk_card()
    client.force_login(staff_user("comms@museum.example", "Communication"))
    orders = Order.objects.count()
    assert _desk_renewal(client, card.number).status_code == 403
    assert Order.objects.count() == orders


def test_the_card_list_shows_grouped_numbers_and_finds_a_number_typed_in_blocks(client):
    card, other = desk_card(), desk_card(email="b@example.org")
    client.force_login(staff_user("manager@museum.example", "Manager"))
    url = reverse("admin:accounts_museumcard_changelist")
    html = client.get(url, {"q": _grouped(card.number)}).content.decode()
    assert _grouped(card.number) in html
    assert _grouped(other.number) not in html
    assert "not yet activated" in html


def test_an_order_with_tickets_still_shows_its_ticket_table_with_the_total(client):
    # given a paid ticket order (the summary the card-only orders now skip)
    exhibition = ExhibitionFactory()
    slot = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(10))
    adult = TicketTypeFactory(site=exhibition.site, name="Adult", price_cents=1200)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )
    # when its page is shown
    html = client.get(
        reverse("ticketing:order_detail", kwargs={"token": order.access_token})
    ).content.decode()
    # then the tickets are listed with the total in the table's footer
    assert "Tickets in this order" in html
    assert html.count("<td>Adult<br>") == 2
    assert 'Total (VAT included)</th><td colspan="2">€\u00a024.00' in html
    assert "Total (VAT included):" not in html


def test_a_desk_renewal_without_an_address_confirms_to_the_cards_address(client):
    card = desk_card(email="aino@example.org")
    client.force_login(staff_user("desk@museum.example", "Front desk"))
    response = _desk_renewal(client, card.number)
    assert response.context["renewed"] == card
    renewal = CardPurchase.objects.get(kind=CardPurchase.Kind.RENEWAL)
    assert renewal.order.email == "aino@example.org"
    assert OutboxEmail.objects.get(dedupe_key__startswith="accounts.card_renewed:").to == (
        "aino@example.org"
    )
    html = response.content.decode()
    assert (
        f"Card {_grouped(card.number)} of Aino Aalto renewed: 24 months start at the next visit."
        in html
    )
