"""The museum card admin: products, visits, settlement, the front desk box, desk renewals."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pypdfium2
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from accounts.models import CardProduct, CardPurchase, CardVisit, MuseumCard
from accounts.services.card_scans import card_scan
from accounts.services.cards import card_end
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.card_factories import CardProductFactory, at, desk_card
from tests.accounts.card_view_helpers import _grouped, _qr_of
from tests.staff import staff_user
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db


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
