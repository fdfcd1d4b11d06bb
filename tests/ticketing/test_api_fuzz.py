"""Property tests of the reseller API: whatever a reseller sends, the answer is never a 5xx.

Two layers: schemathesis generates requests from the published OpenAPI schema and sends
them to the real WSGI application, and hand-written hypothesis strategies mix the ids of
a real catalogue with arbitrary JSON, so that the deeper paths (placing, replaying,
cancelling) are reached too. Both run against the real database, authenticated.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error

from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory, tomorrow_at
from ticketing.models import Order, Ticket, TimeSlot
from ticketing.services.orders import OrderLine, order_place
from ticketing.services.resellers import reseller_create

FUZZ_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    # Examples share the test's database on purpose: orders pile up, slots fill.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SCHEMA_SETTINGS = settings(FUZZ_SETTINGS, max_examples=30)


@pytest.fixture
def catalogue(db):
    """A reseller, a slot with two ticket types, another slot and an issued order."""
    reseller, token = reseller_create(name="Fuzz Tours", contact_email="fuzz@partner.example")
    slot = TimeSlotFactory(capacity=30)
    other_slot = TimeSlotFactory(exhibition=slot.exhibition, starts_at=tomorrow_at(14))
    adult = TicketTypeFactory(site=slot.site)
    child = TicketTypeFactory(site=slot.site, kind="child", name="Child", max_per_order=3)
    foreign = TicketTypeFactory()
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 4)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
    )
    scanned = order.tickets.order_by("pk").first()
    Ticket.objects.filter(pk=scanned.pk).update(checked_in_at=slot.starts_at)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return {
        "token": token,
        "client": client,
        "slots": [slot, other_slot],
        "types": [adult, child, foreign],
        "order": order,
        "tickets": list(order.tickets.order_by("pk")),
    }


def _assert_capacity_kept(slots: list[TimeSlot]) -> None:
    for slot in slots:
        taken = (
            Ticket.objects.filter(time_slot=slot, status=Ticket.Status.VALID).aggregate(
                n=Sum("seats")
            )["n"]
            or 0
        )
        assert taken <= slot.capacity


# --- schemathesis: requests generated from the OpenAPI schema -------------------------------


def _load_schema():
    """The published schema, loaded from the WSGI application itself (no database needed)."""
    from museum.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


# Loaded at collection: schemathesis makes one test per operation of the schema.
schema = _load_schema()


@pytest.fixture
def wsgi_in_test_transaction():
    """Let the WSGI application run inside the test's transaction.

    Django closes "old" connections at the start and end of each request, which would close
    the test's connection mid-transaction; the test client switches this off the same way.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@SCHEMA_SETTINGS
def test_schema_generated_requests_never_get_a_server_error(
    case, catalogue, wsgi_in_test_transaction
):
    # given any request the schema allows (and, in the negative phase, many it does not)
    # when a reseller sends it with its token
    response = case.call(headers={"Authorization": f"Bearer {catalogue['token']}"})
    # then the API answers, with a 4xx at worst
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500


# --- hypothesis: real ids mixed with arbitrary values ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mostly(draw, good, *, keep=True):
    """Usually a plausible value from ``good``, sometimes anything, sometimes left out.

    Plausible values reach the service (placing, replaying, refusing for capacity); the
    others exercise validation. ``MISSING`` means: leave the field out.
    """
    roll = draw(st.integers(min_value=0, max_value=19))
    if roll == 19 and keep:
        return MISSING
    if roll == 18:
        return draw(json_values)
    return draw(good)


MISSING = object()


def rarely(usual, rare):
    """``usual`` four times out of five, else ``rare``.

    (Hypothesis leans towards small integers, hence the rare branch on the largest.)
    """
    return st.integers(min_value=0, max_value=4).flatmap(lambda n: rare if n == 4 else usual)


def _body(fields: dict) -> dict:
    return {name: value for name, value in fields.items() if value is not MISSING}


@st.composite
def order_bodies(draw, catalogue):
    slot_ids = [str(s.public_id) for s in catalogue["slots"]]
    type_ids = [str(t.public_id) for t in catalogue["types"]]
    line = st.builds(
        lambda ticket_type, quantity: _body({"ticket_type": ticket_type, "quantity": quantity}),
        mostly(rarely(st.sampled_from(type_ids), st.uuids().map(str))),
        mostly(
            rarely(
                st.integers(min_value=1, max_value=4),
                st.integers() | st.integers(min_value=-2, max_value=12) | st.just("2"),
            )
        ),
    )
    body = st.builds(
        lambda **fields: _body(fields),
        slot=mostly(rarely(st.sampled_from(slot_ids), st.uuids().map(str))),
        tickets=mostly(st.lists(line, min_size=1, max_size=3)),
        email=mostly(rarely(st.just("visitor@example.org") | st.just(""), st.emails())),
        name=mostly(st.text(max_size=250)),
        language=mostly(st.sampled_from(["en", "fr", "nl", "fi", "sv", "de"])),
        reference=mostly(st.text(max_size=120)),
    )
    if draw(st.integers(min_value=0, max_value=5)) == 5:
        return draw(json_values)
    return draw(body)


@pytest.mark.django_db
def test_order_create_never_gets_a_server_error(catalogue):
    client = catalogue["client"]

    @given(
        body=order_bodies(catalogue),
        key=st.sampled_from([None, None, None, "k1", "k2", "text"]).flatmap(
            lambda k: st.text(max_size=300) if k == "text" else st.just(k)
        ),
    )
    @FUZZ_SETTINGS
    def check(body, key):
        headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
        response = client.post("/api/v1/orders/", body, format="json", **headers)
        assert response.status_code < 500, response.content
        if response.status_code == 201:
            assert Order.objects.filter(code=response.json()["code"]).exists()
        _assert_capacity_kept(catalogue["slots"])

    check()


@pytest.mark.django_db
def test_order_create_with_raw_bodies_never_gets_a_server_error(catalogue):
    client = catalogue["client"]

    @given(
        raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
        content_type=st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]
        ),
    )
    @FUZZ_SETTINGS
    def check(raw, content_type):
        response = client.generic("POST", "/api/v1/orders/", raw, content_type=content_type)
        assert response.status_code < 500, response.content
        assert response.status_code != 201

    check()


@pytest.mark.django_db
def test_slot_list_never_gets_a_server_error(catalogue):
    client = catalogue["client"]
    slug = catalogue["slots"][0].exhibition.slug
    day = st.dates().map(lambda d: d.isoformat())
    params = st.fixed_dictionaries(
        {},
        optional={
            "exhibition": st.sampled_from([slug, "nope"]) | st.text(max_size=60),
            "date": day | st.text(max_size=12),
            "from": day | st.text(max_size=12),
            "to": day | st.text(max_size=12),
            "page": st.text(max_size=5),
        },
    )

    @given(params=params)
    @FUZZ_SETTINGS
    def check(params):
        response = client.get("/api/v1/slots/", params)
        assert response.status_code < 500, response.content
        if response.status_code == 200:
            assert all(s["available"] >= 0 for s in response.json())

    check()


@pytest.mark.django_db
def test_cancel_never_gets_a_server_error(catalogue):
    client = catalogue["client"]
    order = catalogue["order"]
    ticket_ids = [str(t.public_id) for t in catalogue["tickets"]]
    body = st.one_of(
        st.builds(
            lambda tickets: _body({"tickets": tickets}),
            mostly(st.lists(rarely(st.sampled_from(ticket_ids), st.uuids().map(str)), max_size=3)),
        ),
        json_values,
    )
    code = rarely(
        st.just(order.code),
        st.sampled_from([order.code.lower(), "ZZZZZZZZ"])
        | st.text(
            alphabet=st.characters(codec="ascii", exclude_characters="/?#"),
            min_size=1,
            max_size=14,
        ),
    )

    @given(code=code, body=body)
    @FUZZ_SETTINGS
    def check(code, body):
        response = client.post(
            f"/api/v1/orders/{code}/cancel/", json.dumps(body), content_type="application/json"
        )
        assert response.status_code < 500, response.content
        # The scanned ticket is never cancelled, whatever was asked.
        scanned = Ticket.objects.get(pk=catalogue["tickets"][0].pk)
        assert scanned.status == Ticket.Status.VALID

    check()
