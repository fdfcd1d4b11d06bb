"""The museum card pages: buying and paying, the card shop in the header and on the home page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.admin_cards import CardProductAdmin
from accounts.models import CardProduct, CardPurchase, MuseumCard
from museum.models import OutboxEmail
from tests.accounts.card_factories import CardProductFactory, desk_card
from tests.accounts.card_view_helpers import BUY, _buy_form, _grouped, _qr_of
from tests.accounts.factories import UserFactory
from tests.staff import staff_user
from ticketing.models import Order, Payment

pytestmark = pytest.mark.django_db


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
