"""The reseller API: reading orders, isolation between resellers, cancellation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from museum.models import AuditEvent
from tests.ticketing.api_helpers import ORDERS, SLOTS, _reseller_order
from ticketing.models import (
    ApiIdempotencyKey,
    Order,
    Ticket,
)
from ticketing.services.orders import OrderLine, order_place

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

    from django.utils import timezone

    from tests.ticketing.factories import ResellerFactory
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
