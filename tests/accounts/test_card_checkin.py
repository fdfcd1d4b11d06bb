"""Museum cards on the entrance's check-in page, next to tickets."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import formats, timezone

from accounts.models import CardVisit, MuseumCard
from accounts.services.card_scans import CardScanResult, card_scan
from accounts.services.cards import card_end
from tests.accounts.card_factories import at, desk_card
from tests.staff import staff_user
from tests.ticketing.factories import SiteFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.checkin import ScanResult
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

URL = reverse("ticketing:check_in")
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def usher(client):
    user = staff_user("usher@museum.example", "Guard office")
    client.force_login(user)
    return user


def test_a_card_is_admitted_at_the_chosen_site_with_its_holder_and_validity(client, usher):
    # given a card not yet activated and the main site
    card = desk_card(name="Aino Aalto")
    site = SiteFactory(name="Main")
    # when the usher scans it, choosing the site and the gate
    with time_machine.travel(at(DAY, 10), tick=False):
        response = client.post(URL, {"code": card.secret, "gate": "North", "site": site.pk})
        page = client.get(URL)
    # then the page says VALID CARD with the holder's name and the last valid day
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["card_outcome"].result == CardScanResult.VALID
    assert response.context["outcome"] is None
    assert "VALID CARD" in html
    assert "Aino Aalto" in html
    assert "9 Mar 2027" in html
    # and one visit is recorded by the usher at that site and gate
    visit = CardVisit.objects.get()
    assert (visit.card_id, visit.site_id, visit.gate, visit.checked_in_by_id) == (
        card.pk,
        site.pk,
        "North",
        usher.pk,
    )
    # and the page remembers the site and the gate for the next scan
    assert page.context["form"]["site"].value() == site.pk
    assert page.context["form"]["gate"].value() == "North"


def test_a_second_card_scan_without_choosing_the_site_again_uses_the_remembered_one(client, usher):
    card = desk_card()
    site = SiteFactory()
    with time_machine.travel(at(DAY, 10), tick=False):
        client.post(URL, {"code": card.secret, "gate": "", "site": site.pk})
        again = client.post(URL, {"code": card.number, "gate": "", "site": site.pk})
    assert again.context["card_outcome"].result == CardScanResult.VALID
    assert CardVisit.objects.filter(card=card, site=site).count() == 2


def test_an_expired_card_is_red_with_its_end_and_records_no_visit(client, usher):
    # given a card first used 400 days ago: valid for 12 months minus a day from then
    card = desk_card(name="Aino Aalto")
    site = SiteFactory()
    first = timezone.localdate() - dt.timedelta(days=400)
    card_scan(code=card.secret, site=site, now=at(first, 10))
    card.refresh_from_db()
    # when it is scanned today
    response = client.post(URL, {"code": card.secret, "site": site.pk})
    # then the page says EXPIRED in red with its last valid day, and records no visit
    html = response.content.decode()
    assert response.context["card_outcome"].result == CardScanResult.EXPIRED
    assert "EXPIRED" in html
    assert 'class="scan-result card-scan unknown"' in html
    assert formats.date_format(card.valid_until, "j M Y") in html
    assert CardVisit.objects.count() == 1


def test_a_card_not_activated_is_refused_at_a_blocking_site(client, usher):
    card = desk_card()
    blocked = SiteFactory(card_activation_allowed=False)
    with time_machine.travel(at(DAY, 10), tick=False):
        response = client.post(URL, {"code": card.secret, "site": blocked.pk})
    assert response.context["card_outcome"].result == CardScanResult.NOT_ACTIVATED_BLOCKED
    assert "NOT YET ACTIVATED" in response.content.decode()
    assert CardVisit.objects.count() == 0
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED


def test_an_ended_card_says_ended(client, usher):
    card = desk_card()
    card_end(card=card, reason="erasure request")
    response = client.post(URL, {"code": card.secret, "site": SiteFactory().pk})
    assert response.context["card_outcome"].result == CardScanResult.ENDED
    assert "ENDED" in response.content.decode()
    assert CardVisit.objects.count() == 0


def test_a_card_scanned_without_a_site_asks_for_the_site_and_keeps_the_code(client, usher):
    # given a card and no site chosen on the page yet
    card = desk_card()
    SiteFactory()
    # when it is scanned
    response = client.post(URL, {"code": card.secret, "gate": "North"})
    # then the page asks for the site, keeps the code, and records nothing
    assert response.context["card_outcome"] is None
    assert response.context["outcome"] is None
    assert response.context["form"].errors["site"] == [
        "Choose the site of this entrance to check museum cards."
    ]
    assert response.context["form"]["code"].value() == card.secret
    assert CardVisit.objects.count() == 0
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED


def test_an_unknown_code_with_a_site_is_unknown(client, usher):
    site = SiteFactory()
    response = client.post(URL, {"code": "nope", "site": site.pk})
    assert response.context["outcome"].result == ScanResult.UNKNOWN
    assert response.context["card_outcome"] is None
    assert "UNKNOWN" in response.content.decode()


def test_a_ticket_is_still_checked_in_when_a_site_is_chosen(client, usher):
    # given a paid ticket whose slot is running, and a card site chosen on the page
    slot = TimeSlotFactory(capacity=5)
    adult = TicketTypeFactory(site=slot.site)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )
    ticket = order.tickets.get()
    with time_machine.travel(slot.starts_at, tick=False):
        response = client.post(URL, {"code": ticket.secret, "site": SiteFactory().pk})
    assert response.context["outcome"].result == ScanResult.VALID
    assert response.context["card_outcome"] is None
    assert CardVisit.objects.count() == 0


def test_an_unknown_site_id_is_a_form_error_and_records_nothing(client, usher):
    card = desk_card()
    response = client.post(URL, {"code": card.secret, "site": "999999"})
    assert response.status_code == 200
    assert "site" in response.context["form"].errors
    assert CardVisit.objects.count() == 0
