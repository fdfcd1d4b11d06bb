"""The reseller API: slots, orders, idempotent retries, cancellation, isolation, errors."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from museum.models import AuditEvent, Closure, OutboxEmail
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.api.auth import hash_token
from ticketing.models import (
    ApiIdempotencyKey,
    Order,
    Reseller,
    ResellerAllocation,
    Ticket,
)
from ticketing.services.orders import OrderLine, order_place
from ticketing.services.resellers import reseller_create

ORDERS = "/api/v1/orders/"
SLOTS = "/api/v1/slots/"


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def partner(db):
    reseller, token = reseller_create(name="Partner Tours", contact_email="api@partner.example")
    return reseller, _client(token)


@pytest.fixture
def rival(db):
    reseller, token = reseller_create(name="Rival Tickets", contact_email="api@rival.example")
    return reseller, _client(token)


@pytest.fixture
def shop(db):
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)
    child = TicketTypeFactory(
        site=slot.site, kind="child", name="Child", price_cents=500, max_per_order=4
    )
    return slot, adult, child


def _order_body(slot, *lines, **extra):
    return {
        "slot": str(slot.public_id),
        "tickets": [{"ticket_type": str(t.public_id), "quantity": q} for t, q in lines],
        **extra,
    }


def _reseller_order(reseller, slot, ticket_type, quantity=1):
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
    )


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


# --- placing orders ------------------------------------------------------------------------


def test_order_create_issues_invoiced_tickets_at_once(
    partner, shop, django_capture_on_commit_callbacks
):
    reseller, client = partner
    slot, adult, child = shop
    # when the reseller orders 2 adults and 1 child for a visitor
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ORDERS,
            _order_body(
                slot,
                (adult, 2),
                (child, 1),
                email="Visitor@Example.org",
                name="Visitor",
                language="fr",
                reference="PT-1234",
            ),
            format="json",
        )
    # then the order is paid on invoice and its tickets are valid
    assert response.status_code == 201
    order = Order.objects.get()
    tickets = list(order.tickets.order_by("pk"))
    body = response.json()
    assert body == {
        "code": order.code,
        "status": "paid",
        "total_cents": 3300,
        "currency": "EUR",
        "created_at": timezone.localtime(order.created_at).isoformat(),
        "reference": "PT-1234",
        "tickets": [
            {
                "id": str(t.public_id),
                "secret": t.secret,
                "ticket_type": str(t.ticket_type.public_id),
                "slot": str(slot.public_id),
                "status": "valid",
                "price_cents": t.price_cents,
                "checked_in": False,
            }
            for t in tickets
        ],
        "pdf_url": f"http://testserver/api/v1/orders/{order.code}/pdf/",
    }
    assert [t.ticket_type_id for t in tickets] == [adult.pk, adult.pk, child.pk]
    assert order.channel == Order.Channel.RESELLER
    assert order.payment_method == Order.PaymentMethod.INVOICE
    assert order.reseller == reseller
    assert order.reseller_reference == "PT-1234"
    assert order.email == "visitor@example.org"
    assert order.language == "fr"
    assert list(OutboxEmail.objects.values_list("to", flat=True)) == ["visitor@example.org"]
    placed = AuditEvent.objects.get(action="order.placed")
    assert placed.actor_label == "Partner Tours"


def test_order_create_without_email_sends_nothing(partner, shop):
    _reseller, client = partner
    slot, adult, _child = shop
    response = client.post(ORDERS, _order_body(slot, (adult, 1)), format="json")
    assert response.status_code == 201
    assert response.json()["reference"] == ""
    assert OutboxEmail.objects.count() == 0


def test_sold_out_order_gets_409_and_nothing_is_created(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    # given a slot of 10 places with 9 sold
    _reseller_order(reseller, slot, adult, 9)
    orders_before = Order.objects.count()
    # when the reseller orders 2 more, with an idempotency key
    response = client.post(
        ORDERS, _order_body(slot, (adult, 2)), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    # then it is refused as a conflict and nothing is written, not even the key
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["field"]) == ("sold_out", "quantities")
    assert "Only 1 place" in body["detail"]
    assert Order.objects.count() == orders_before
    assert Ticket.objects.count() == 9
    assert ApiIdempotencyKey.objects.count() == 0


def test_daily_cap_reached_is_a_conflict_too(partner):
    _reseller, client = partner
    site = SiteFactory(daily_capacity=1)
    slot = TimeSlotFactory(exhibition=ExhibitionFactory(site=site))
    adult = TicketTypeFactory(site=site)
    response = client.post(ORDERS, _order_body(slot, (adult, 2)), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "daily_cap"
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "slot", "This field is required."),
        ({"slot": "nope", "tickets": []}, "slot", "Must be a valid UUID."),
        ({"slot": "SLOT", "tickets": []}, "tickets", "This list may not be empty."),
        ({"slot": "SLOT", "tickets": "ADULT"}, "tickets", "Expected a list of items"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": -1}]}, "tickets", "greater than or equal to 1"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": 10**30}]}, "tickets", "less than or equal to 100"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": "2x"}]}, "tickets", "A valid integer is required."),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": 1}], "language": "de"}, "language", "is not a valid choice"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": 1}], "email": "x"}, "email", "valid email"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": 1}], "reference": "r" * 101}, "reference", "no more than 100"),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "ADULT", "quantity": 1}], "name": "a\x00b"}, "name", "Null characters are not allowed."),
        ({"slot": "00000000-0000-0000-0000-000000000000", "tickets": [{"ticket_type": "ADULT", "quantity": 1}]}, "slot", "No time slot has this id."),
        ({"slot": "SLOT", "tickets": [{"ticket_type": "00000000-0000-0000-0000-000000000000", "quantity": 1}]}, "tickets", "No ticket type has the id"),
    ],
)  # fmt: skip
def test_order_create_refuses_bad_input_with_a_message(partner, shop, body, field, message):
    _reseller, client = partner
    slot, adult, _child = shop
    raw = repr(body).replace("SLOT", str(slot.public_id)).replace("ADULT", str(adult.public_id))
    body = eval(raw)  # noqa: S307  the parametrized literal with the ids filled in
    # when the body is wrong
    response = client.post(ORDERS, body, format="json")
    # then the reseller is told which field and why, and nothing is sold
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert Order.objects.count() == 0


def test_order_create_refuses_a_rule_of_the_shop_with_a_code(partner, shop):
    _reseller, client = partner
    slot, adult, child = shop
    elsewhere = TicketTypeFactory()
    # when a ticket type of another site is ordered, or too many child tickets
    other_site = client.post(ORDERS, _order_body(slot, (elsewhere, 1)), format="json")
    too_many = client.post(ORDERS, _order_body(slot, (child, 5)), format="json")
    # then each refusal names the rule
    assert other_site.status_code == 400
    assert other_site.json()["code"] == "invalid_ticket_type"
    assert too_many.status_code == 400
    assert too_many.json() == {
        "code": "invalid_quantity",
        "detail": "At most 4 “Child” tickets per order.",
        "field": "quantities",
    }
    assert Order.objects.count() == 0


def test_order_create_refuses_malformed_json_and_other_media_types(partner, shop):
    _reseller, client = partner
    slot, adult, _child = shop
    malformed = client.post(ORDERS, '{"slot": ', content_type="application/json")
    as_list = client.post(ORDERS, [1, 2], format="json")
    nan = client.post(ORDERS, '{"slot": NaN}', content_type="application/json")
    deep = client.post(ORDERS, "[" * 100_000 + "]" * 100_000, content_type="application/json")
    form = client.post(ORDERS, {"slot": str(slot.public_id)})
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "parse_error"
    assert as_list.status_code == 400
    assert "Expected a dictionary" in as_list.json()["non_field_errors"][0]
    assert nan.status_code == 400
    assert deep.status_code == 400
    assert form.status_code == 415
    assert Order.objects.count() == 0


# --- idempotency ----------------------------------------------------------------------------


def test_retry_with_the_same_key_replays_the_answer_without_a_new_order(partner, shop):
    _reseller, client = partner
    slot, adult, _child = shop
    body = _order_body(slot, (adult, 2), reference="R-1")
    # when the same request is sent twice with the same key
    first = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-R-1")
    again = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-R-1")
    # then the second gets the very same answer and only one order exists
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1
    assert Ticket.objects.count() == 2
    key = ApiIdempotencyKey.objects.get()
    assert (key.key, key.response_status) == ("order-R-1", 201)


def test_reusing_a_key_for_a_different_body_gets_422(partner, shop):
    _reseller, client = partner
    slot, adult, _child = shop
    first = client.post(
        ORDERS, _order_body(slot, (adult, 2)), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    # when the key comes back with another quantity
    reused = client.post(
        ORDERS, _order_body(slot, (adult, 3)), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    # then it is refused and nothing more is sold
    assert first.status_code == 201
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"
    assert "different request" in reused.json()["detail"]
    assert Order.objects.count() == 1
    assert Ticket.objects.count() == 2


def test_keys_are_per_reseller(partner, rival, shop):
    _reseller, client = partner
    _other, rival_client = rival
    slot, adult, _child = shop
    body = _order_body(slot, (adult, 1))
    mine = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    theirs = rival_client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["code"] != theirs.json()["code"]
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", ["", "k" * 256, "clé"])
def test_invalid_idempotency_key_is_refused(partner, shop, key):
    _reseller, client = partner
    slot, adult, _child = shop
    response = client.post(
        ORDERS, _order_body(slot, (adult, 1)), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert Order.objects.count() == 0
    assert ApiIdempotencyKey.objects.count() == 0


def test_a_failed_request_leaves_its_key_free_for_a_retry(partner, shop):
    _reseller, client = partner
    slot, adult, _child = shop
    bad = client.post(
        ORDERS, _order_body(slot, (adult, 0)), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    good = client.post(
        ORDERS, _order_body(slot, (adult, 1)), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert bad.status_code == 400
    assert good.status_code == 201
    assert Order.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_the_same_key_place_one_order():
    # given a reseller and a slot, committed so that other connections see them
    _reseller, token = reseller_create(name="Partner", contact_email="p@partner.example")
    slot = TimeSlotFactory(capacity=50)
    adult = TicketTypeFactory(site=slot.site)
    body = _order_body(slot, (adult, 2))
    threads_count = 6
    barrier = threading.Barrier(threads_count)
    results: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def send():
        try:
            client = _client(token)
            barrier.wait()
            response = client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY="race")
            results.append((response.status_code, response.json()))
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    # when six connections send the same request with the same key at once
    threads = [threading.Thread(target=send) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # then exactly one order is placed and every answer is that order
    assert errors == []
    assert Order.objects.count() == 1
    assert Ticket.objects.count() == 2
    code = Order.objects.get().code
    assert sorted(status for status, _ in results) == [201] * threads_count
    assert {body["code"] for _, body in results} == {code}
    assert ApiIdempotencyKey.objects.count() == 1


# --- reading orders and isolation -------------------------------------------------------------


def test_order_list_shows_own_orders_newest_first(partner, rival, shop):
    reseller, client = partner
    other, _ = rival
    slot, adult, _child = shop
    first = _reseller_order(reseller, slot, adult)
    second = _reseller_order(reseller, slot, adult)
    _reseller_order(other, slot, adult)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.DESK, payment_method="cash"
    )
    response = client.get(ORDERS)
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2
    assert [o["code"] for o in data["results"]] == [second.code, first.code]


def test_order_list_is_paginated(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    orders = [_reseller_order(reseller, slot, adult) for _ in range(3)]
    page_2 = client.get(ORDERS, {"page_size": 2, "page": 2})
    beyond = client.get(ORDERS, {"page": 9})
    assert page_2.status_code == 200
    assert [o["code"] for o in page_2.json()["results"]] == [orders[0].code]
    assert page_2.json()["previous"] is not None
    assert beyond.status_code == 404


def test_order_detail_and_pdf(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 2)
    detail = client.get(f"{ORDERS}{order.code}/")
    pdf = client.get(f"{ORDERS}{order.code}/pdf/", HTTP_ACCEPT="application/pdf")
    assert detail.status_code == 200
    assert detail.json()["code"] == order.code
    assert [t["id"] for t in detail.json()["tickets"]] == [
        str(t.public_id) for t in order.tickets.order_by("pk")
    ]
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("get", "pdf/"), ("post", "cancel/")])
def test_another_resellers_order_is_not_found(partner, rival, shop, method, suffix):
    _reseller, client = partner
    other, _ = rival
    slot, adult, _child = shop
    # given an order of the rival
    theirs = _reseller_order(other, slot, adult, 2)
    # when the reseller tries to read, print or cancel it
    response = getattr(client, method)(
        f"{ORDERS}{theirs.code}/{suffix}", HTTP_ACCEPT="application/pdf, application/json"
    )
    # then it does not exist for it and the order is untouched
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.status == Order.Status.PAID
    assert list(theirs.tickets.values_list("status", flat=True)) == [Ticket.Status.VALID] * 2
    assert [o["code"] for o in client.get(ORDERS).json()["results"]] == []


@pytest.mark.parametrize("code", ["nope", "a" * 13, "%00", "AB%2FCD"])
def test_unknown_or_odd_order_codes_are_not_found(partner, code):
    _reseller, client = partner
    assert client.get(f"{ORDERS}{code}/").status_code == 404


# --- cancelling ------------------------------------------------------------------------------


def test_cancel_every_ticket_cancels_the_order(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 2)
    # when the reseller cancels the order without naming tickets
    response = client.post(f"{ORDERS}{order.code}/cancel/", {}, format="json")
    # then every ticket and the order are cancelled, and the seats are free again
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert [t["status"] for t in response.json()["tickets"]] == ["cancelled", "cancelled"]
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    event = AuditEvent.objects.get(action="tickets.cancelled")
    assert event.actor_label == "Partner Tours"
    assert client.get(SLOTS).json()[0]["available"] == 10


def test_cancel_some_tickets_keeps_the_others(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 3)
    first, second, third = order.tickets.order_by("pk")
    response = client.post(
        f"{ORDERS}{order.code}/cancel/", {"tickets": [str(second.public_id)]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "paid"
    assert [t["status"] for t in response.json()["tickets"]] == ["valid", "cancelled", "valid"]


def test_cancel_of_a_scanned_ticket_is_refused_and_changes_nothing(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 2)
    scanned, unscanned = order.tickets.order_by("pk")
    Ticket.objects.filter(pk=scanned.pk).update(checked_in_at=timezone.now())
    # when the reseller cancels both tickets, the scanned one included
    response = client.post(
        f"{ORDERS}{order.code}/cancel/",
        {"tickets": [str(scanned.public_id), str(unscanned.public_id)]},
        format="json",
    )
    # then it is refused and both tickets stay valid
    assert response.status_code == 400
    assert response.json()["code"] == "not_cancellable"
    assert list(order.tickets.order_by("pk").values_list("status", flat=True)) == [
        Ticket.Status.VALID,
        Ticket.Status.VALID,
    ]
    assert not AuditEvent.objects.filter(action="tickets.cancelled").exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tickets": []}, "This list may not be empty."),
        ({"tickets": ["nope"]}, "Must be a valid UUID."),
        ({"tickets": ["00000000-0000-0000-0000-000000000000"]}, "not in this order"),
        ({"tickets": "all"}, "Expected a list of items"),
    ],
)
def test_cancel_refuses_bad_ticket_lists(partner, shop, body, message):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 1)
    response = client.post(f"{ORDERS}{order.code}/cancel/", body, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["tickets"])
    assert order.tickets.get().status == Ticket.Status.VALID


def test_cancel_twice_is_refused_the_second_time(partner, shop):
    reseller, client = partner
    slot, adult, _child = shop
    order = _reseller_order(reseller, slot, adult, 1)
    assert client.post(f"{ORDERS}{order.code}/cancel/", {}, format="json").status_code == 200
    again = client.post(f"{ORDERS}{order.code}/cancel/", {}, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "not_cancellable"
    assert AuditEvent.objects.filter(action="tickets.cancelled").count() == 1


def test_stored_idempotency_answers_are_purged_after_a_week(db):
    # given one answer stored 8 days ago and one stored today
    import datetime as dt

    from django.utils import timezone

    from tests.ticketing.factories import ResellerFactory
    from ticketing.models import ApiIdempotencyKey
    from ticketing.tasks import purge_idempotency_keys

    reseller = ResellerFactory()
    old = ApiIdempotencyKey.objects.create(reseller=reseller, key="old", request_hash="x")
    ApiIdempotencyKey.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - dt.timedelta(days=8)
    )
    ApiIdempotencyKey.objects.create(reseller=reseller, key="new", request_hash="y")
    # when the nightly task runs (twice)
    first = purge_idempotency_keys()
    second = purge_idempotency_keys()
    # then only the old one is gone
    assert (first, second) == (1, 0)
    assert list(ApiIdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
