"""Card holders book a 0 € slot ticket with their card; the entrance scans it once."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import CardVisit, MuseumCard
from accounts.services.cards import card_end
from tests.accounts.card_factories import desk_card
from tests.staff import staff_user
from tests.ticketing.factories import ExhibitionFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.errors import TicketingError
from ticketing.models import Order, Ticket, TicketType
from ticketing.services.checkin import ScanResult, ticket_check_in
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    """A slot tomorrow at 10:00 (5 places), an adult ticket and a card holder's ticket."""
    exhibition = ExhibitionFactory()
    day = timezone.localdate() + dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(10), tzinfo=timezone.get_current_timezone())
    slot = TimeSlotFactory(exhibition=exhibition, capacity=5, starts_at=start)
    adult = TicketTypeFactory(site=exhibition.site)
    card_type = TicketTypeFactory(
        site=exhibition.site, kind=TicketType.Kind.CARD_HOLDER, name="Card holder", price_cents=0
    )
    return slot, adult, card_type


def _book(slot, card_type, cards, *, quantity=None, adult=None):
    lines = [OrderLine(slot.pk, card_type.pk, len(cards) if quantity is None else quantity)]
    if adult is not None:
        lines.append(OrderLine(slot.pk, adult.pk, 1))
    return order_place(
        lines=lines,
        channel=Order.Channel.WEB,
        email="holder@example.org",
        name="Holder",
        museum_cards=cards,
    )


def test_a_card_holder_books_a_free_ticket_that_takes_a_place(shop):
    # given a paid card not yet started
    slot, adult, card_type = shop
    card = desk_card()
    # when its holder books a card holder's ticket with the card number
    order = _book(slot, card_type, [card.number])
    # then the free order is issued at once and the ticket names the card
    ticket = order.tickets.get()
    assert order.status == Order.Status.PAID
    assert order.total_cents == 0
    assert ticket.museum_card == card
    assert ticket.status == Ticket.Status.VALID


def test_a_card_books_one_ticket_a_day(shop):
    # given a card that already booked a ticket tomorrow
    slot, adult, card_type = shop
    card = desk_card()
    _book(slot, card_type, [card.number])
    orders_before = Order.objects.count()
    # when it tries to book again the same day
    with pytest.raises(TicketingError) as refused:
        _book(slot, card_type, [card.number])
    # then it is refused and nothing is written
    assert "already has a booking" in str(refused.value.message)
    assert refused.value.field == "museum_cards"
    assert Order.objects.count() == orders_before


@pytest.mark.parametrize(
    ("cards", "quantity", "message"),
    [
        ([], 1, "Give one museum card number"),
        (["000000000000"], 1, "No museum card has the number"),
        (["not a card"], 1, "No museum card has the number"),
    ],
)
def test_card_tickets_need_one_known_card_each(shop, cards, quantity, message):
    # given the card holder's ticket type
    slot, adult, card_type = shop
    # when the numbers are missing or unknown
    with pytest.raises(TicketingError) as refused:
        _book(slot, card_type, cards, quantity=quantity)
    # then the order is refused with a clear message and nothing is written
    assert message in str(refused.value.message)
    assert not Order.objects.exists()


def test_an_ended_or_duplicated_card_cannot_book(shop):
    # given an ended card and a good one
    slot, adult, card_type = shop
    ended = desk_card(email="a@example.org")
    card_end(card=ended, reason="erasure")
    good = desk_card(email="b@example.org")
    tickets_before = Ticket.objects.count()
    # then the ended card is refused, and one card cannot book two tickets
    with pytest.raises(TicketingError, match="has ended"):
        _book(slot, card_type, [ended.number])
    with pytest.raises(TicketingError, match="appears twice"):
        _book(slot, card_type, [good.number, good.number])
    assert Ticket.objects.count() == tickets_before == 0


def test_checking_in_a_card_ticket_starts_the_card_and_records_one_visit(shop):
    # given a booked card holder's ticket, scanned within its slot
    slot, adult, card_type = shop
    card = desk_card()
    ticket = _book(slot, card_type, [card.number]).tickets.get()
    # when the entrance scans the ticket
    outcome = ticket_check_in(code=ticket.secret, gate="North", now=slot.starts_at)
    # then it admits, the card starts today and one visit is recorded at the slot's site
    card.refresh_from_db()
    assert outcome.result == ScanResult.VALID
    assert card.status == MuseumCard.Status.ACTIVE
    assert card.valid_from == timezone.localdate(slot.starts_at)
    assert list(CardVisit.objects.values_list("card_id", "site_id")) == [(card.pk, slot.site_id)]


def test_a_card_ticket_does_not_admit_once_its_card_has_ended(shop):
    # given a booked card holder's ticket whose card was ended afterwards
    slot, adult, card_type = shop
    card = desk_card()
    ticket = _book(slot, card_type, [card.number]).tickets.get()
    card_end(card=card, reason="erasure")
    # when the ticket is scanned
    outcome = ticket_check_in(code=ticket.secret, now=slot.starts_at)
    # then it does not admit, stays unused, and no visit is recorded
    ticket.refresh_from_db()
    assert outcome.result == ScanResult.CARD_NOT_VALID
    assert ticket.checked_in_at is None
    assert not CardVisit.objects.exists()


def test_checkout_page_asks_for_card_numbers_and_keeps_them_on_error(client, shop):
    # given the checkout page of a slot with a card holder's ticket
    slot, adult, card_type = shop
    local = timezone.localtime(slot.starts_at)
    url = reverse(
        "ticketing:checkout",
        kwargs={
            "slug": slot.exhibition.slug,
            "day": local.date().isoformat(),
            "hhmm": local.strftime("%H%M"),
        },
    )
    # when a visitor books a card ticket with an unknown number
    response = client.post(
        url,
        {
            f"qty_{adult.pk}": "0",
            f"qty_{card_type.pk}": "1",
            "name": "Holder",
            "email": "holder@example.org",
            "museum_cards": "123456789012",
        },
    )
    # then the page says so next to the field, keeps what was typed and writes nothing
    body = response.content.decode()
    assert response.status_code == 400
    assert "No museum card has the number 123456789012." in body
    assert ">123456789012</textarea>" in body
    assert not Order.objects.exists()


def test_a_signed_in_holder_finds_the_card_number_prefilled(client, shop):
    # given a signed-in visitor holding a card
    slot, adult, card_type = shop
    user = staff_user("holder@example.org", with_totp=False)
    user.is_staff = False
    user.save()
    card = desk_card(email="holder@example.org")
    MuseumCard.objects.filter(pk=card.pk).update(holder=user)
    client.force_login(user)
    local = timezone.localtime(slot.starts_at)
    url = reverse(
        "ticketing:checkout",
        kwargs={
            "slug": slot.exhibition.slug,
            "day": local.date().isoformat(),
            "hhmm": local.strftime("%H%M"),
        },
    )
    # when they open the checkout page
    response = client.get(url)
    # then their card number is already in the card field
    assert f">{card.number}</textarea>" in response.content.decode()
