"""The reseller API: placing orders, idempotent retries."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from museum.models import AuditEvent, OutboxEmail
from tests.ticketing.api_helpers import ORDERS, _client, _order_body, _reseller_order
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing.models import (
    ApiIdempotencyKey,
    Order,
    Ticket,
)
from ticketing.services.resellers import reseller_create

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
