"""The reseller API: resellers and tokens, authentication, slots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from museum.models import AuditEvent, Closure
from tests.ticketing.api_helpers import ORDERS, SLOTS, _client, _order_body, _reseller_order
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.api.auth import hash_token
from ticketing.models import (
    Order,
    Reseller,
    ResellerAllocation,
)
from ticketing.services.orders import OrderLine, order_place
from ticketing.services.resellers import reseller_create

# --- resellers and tokens -----------------------------------------------------------------


def test_reseller_create_keeps_only_the_hash_and_prefix_of_its_token(db):
    # when a reseller is created
    reseller, token = reseller_create(name=" Partner ", contact_email="API@Partner.example")
    # then the token is long and random, only its hash and first 8 characters are stored
    assert len(token) >= 43
    reseller.refresh_from_db()
    assert reseller.token_hash == hash_token(token)
    assert reseller.token_prefix == token[:8]
    assert reseller.name == "Partner"
    assert reseller.contact_email == "api@partner.example"
    assert reseller.is_active
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["reseller.created"]


def test_create_reseller_command_prints_a_token_that_authenticates(db):
    # when the command creates a reseller
    out = StringIO()
    call_command(
        "create_reseller", "Partner Tours", "api@partner.example", "--token-only", stdout=out
    )
    token = out.getvalue().strip()
    # then the printed token is the reseller's and opens the API
    reseller = Reseller.objects.get()
    assert reseller.name == "Partner Tours"
    assert reseller.token_hash == hash_token(token)
    assert _client(token).get(SLOTS).status_code == 200


def test_create_reseller_command_refuses_a_bad_email(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Not a valid e-mail"):
        call_command("create_reseller", "Partner", "not-an-email", stdout=StringIO())
    assert Reseller.objects.count() == 0


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Bearer", "Bearer a b", "Token abc", "bearer abc"],
)
def test_requests_without_a_valid_token_get_401(db, authorization):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    # when someone without a valid token lists slots or places an order
    slots = client.get(SLOTS)
    orders = client.post(ORDERS, {"slot": "x"}, format="json")
    # then both are refused with a Bearer challenge and nothing is written
    assert slots.status_code == 401
    assert orders.status_code == 401
    assert slots["WWW-Authenticate"] == "Bearer"
    assert set(slots.json()) == {"code", "detail"}
    assert Order.objects.count() == 0


def test_inactive_reseller_token_gets_401(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    Reseller.objects.filter(pk=reseller.pk).update(is_active=False)
    # when a deactivated reseller tries to order
    response = client.post(ORDERS, _order_body(slot, (adult, 1)), format="json")
    # then it is refused and nothing is sold
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert Order.objects.count() == 0


def test_schema_is_public(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) >= {
        "/api/v1/slots/",
        "/api/v1/orders/",
        "/api/v1/orders/{code}/",
        "/api/v1/orders/{code}/pdf/",
        "/api/v1/orders/{code}/cancel/",
    }
    header = [p for p in paths["/api/v1/orders/"]["post"]["parameters"] if p["in"] == "header"]
    assert [p["name"] for p in header] == ["Idempotency-Key"]


# --- slots ------------------------------------------------------------------------------------


def test_slot_list_shows_what_this_reseller_can_still_sell(partner, rival):
    reseller, client = partner
    other, _ = rival
    # given a slot of 20 places: 3 sold on the web, 5 kept for a rival, 4 kept for us
    slot = TimeSlotFactory(capacity=20)
    site_wide = TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)
    own = TicketTypeFactory(
        site=slot.site,
        exhibition=slot.exhibition,
        kind="reduced",
        name="Reduced",
        price_cents=900,
        vat_rate=Decimal("21.00"),
        max_per_order=6,
    )
    TicketTypeFactory(site=slot.site, exhibition=ExhibitionFactory(site=slot.site), name="Other")
    TicketTypeFactory(site=slot.site, name="Retired", is_active=False)
    order_place(
        lines=[OrderLine(slot.pk, site_wide.pk, 3)],
        channel=Order.Channel.DESK,
        payment_method="cash",
    )
    ResellerAllocation.objects.create(reseller=other, time_slot=slot, seats=5)
    ResellerAllocation.objects.create(reseller=reseller, time_slot=slot, seats=4)
    # when the reseller lists the exhibition's slots of that day
    day = timezone.localdate(slot.starts_at).isoformat()
    response = client.get(SLOTS, {"exhibition": slot.exhibition.slug, "date": day})
    # then it sees 20 - 3 - 5 places and the ticket types valid for the slot
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": str(slot.public_id),
            "exhibition": slot.exhibition.slug,
            "site": slot.site.slug,
            "starts_at": timezone.localtime(slot.starts_at).isoformat(),
            "ends_at": timezone.localtime(slot.ends_at).isoformat(),
            "capacity": 20,
            "available": 12,
            "ticket_types": [
                {
                    "id": str(site_wide.public_id),
                    "kind": "adult",
                    "name": "Adult",
                    "price_cents": 1400,
                    "vat_rate": "6.00",
                    "max_per_order": 10,
                },
                {
                    "id": str(own.public_id),
                    "kind": "reduced",
                    "name": "Reduced",
                    "price_cents": 900,
                    "vat_rate": "21.00",
                    "max_per_order": 6,
                },
            ],
        }
    ]


def test_slot_list_leaves_out_slots_not_on_sale(partner):
    _reseller, client = partner
    # given a bookable slot and slots that are cancelled, over, closed or of an exhibition
    # or a site that is not on sale
    exhibition = ExhibitionFactory()
    on_sale = TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(10))
    TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(11), is_cancelled=True)
    now = timezone.now()
    TimeSlotFactory(
        exhibition=exhibition,
        starts_at=now - dt.timedelta(hours=2),
        ends_at=now - dt.timedelta(hours=1),
    )
    closed_day = timezone.localdate() + dt.timedelta(days=2)
    Closure.objects.create(
        site=exhibition.site, starts_on=closed_day, ends_on=closed_day, reason="Strike"
    )
    TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(10) + dt.timedelta(days=1))
    TimeSlotFactory(exhibition=ExhibitionFactory(site=exhibition.site, is_active=False))
    TimeSlotFactory(exhibition=ExhibitionFactory(site=SiteFactory(is_active=False)))
    ended = ExhibitionFactory(site=exhibition.site, ends_on=timezone.localdate())
    TimeSlotFactory(exhibition=ended)
    # when the reseller lists every slot of the coming days
    response = client.get(SLOTS)
    # then only the bookable one is there
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [str(on_sale.public_id)]


def test_slot_list_is_bounded_by_the_site_daily_capacity(partner):
    _reseller, client = partner
    # given a site that admits 5 people a day, 4 of them already sold in another slot
    site = SiteFactory(daily_capacity=5)
    exhibition = ExhibitionFactory(site=site)
    early = TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(10), capacity=20)
    late = TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(15), capacity=20)
    adult = TicketTypeFactory(site=site)
    order_place(
        lines=[OrderLine(early.pk, adult.pk, 4)], channel=Order.Channel.DESK, payment_method="cash"
    )
    # when the reseller lists the slots
    response = client.get(SLOTS, {"exhibition": exhibition.slug})
    # then one place is left in each slot, not 16 and 20
    assert response.status_code == 200
    assert [(s["id"], s["available"]) for s in response.json()] == [
        (str(early.public_id), 1),
        (str(late.public_id), 1),
    ]


def test_slot_list_takes_a_range_of_at_most_31_days(partner):
    _reseller, client = partner
    exhibition = ExhibitionFactory()
    first = timezone.localdate() + dt.timedelta(days=1)
    inside = TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(10) + dt.timedelta(3))
    TimeSlotFactory(exhibition=exhibition, starts_at=tomorrow_at(10) + dt.timedelta(days=5))
    # when the reseller asks for days 1 to 4
    response = client.get(
        SLOTS, {"from": first.isoformat(), "to": (first + dt.timedelta(days=3)).isoformat()}
    )
    # then only the slot of day 4 is listed
    assert response.status_code == 200
    assert [s["id"] for s in response.json()] == [str(inside.public_id)]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"date": "tomorrow"}, "date", "Date has wrong format"),
        ({"date": "2026-02-30"}, "date", "Date has wrong format"),
        ({"from": "2030-01-01", "to": "2030-03-01"}, "to", "At most 31 days at once."),
        ({"from": "2030-01-10", "to": "2030-01-01"}, "to", "The last day is before the first."),
        ({"date": "2030-01-01", "from": "2030-01-01"}, "date", "not both"),
        ({"exhibition": "no-such-thing"}, "exhibition", "No exhibition has this slug."),
        ({"exhibition": "not a slug!"}, "exhibition", "slug"),
    ],
)
def test_slot_list_refuses_bad_query_parameters(partner, params, field, message):
    _reseller, client = partner
    response = client.get(SLOTS, params)
    assert response.status_code == 400
    assert message in response.json()[field][0]


def test_slot_list_runs_a_fixed_number_of_queries(
    partner, rival, django_assert_num_queries, django_assert_max_num_queries
):
    _reseller, client = partner
    other, _ = rival
    # given two capped sites with many slots, allocations and sales
    slots = []
    for _ in range(2):
        site = SiteFactory(daily_capacity=500)
        exhibition = ExhibitionFactory(site=site)
        adult = TicketTypeFactory(site=site)
        TicketTypeFactory(site=site, exhibition=exhibition, name="Special")
        for day in range(3):
            for hour in (10, 12, 14):
                slot = TimeSlotFactory(
                    exhibition=exhibition,
                    starts_at=tomorrow_at(hour) + dt.timedelta(days=day),
                )
                ResellerAllocation.objects.create(reseller=other, time_slot=slot, seats=2)
                _reseller_order(other, slot, adult)
                slots.append(slot)
    # when the reseller lists 18 slots, then it takes a handful of queries
    with django_assert_max_num_queries(8) as captured:
        response = client.get(SLOTS)
    assert response.status_code == 200
    assert len(response.json()) == 18
    # and exactly as many as for the 6 slots of one day
    with django_assert_num_queries(len(captured)):
        one_day = client.get(SLOTS, {"date": timezone.localdate(slots[0].starts_at).isoformat()})
    assert len(one_day.json()) == 6
