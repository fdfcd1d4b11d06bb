"""Garbage on the buyer's refund pages: a clear answer, never a 500, nothing changed."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from django.urls import reverse

from refunds.models import Refund, Voucher
from tests.refunds.core_helpers import visit_slot
from tests.refunds.view_helpers import cancel_slot, cash_order, offered_refund
from ticketing.models import Ticket

pytestmark = pytest.mark.django_db

GARBAGE = ["", "x" * 5000, "-1", "1.5", "null", "<script>", "9999999999999999999999", "é\u0000"]


def test_garbage_choices_on_an_offer_never_500_and_change_nothing(client, run_tasks):
    # given an offered refund, and another buyer's order on another slot
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=1)
    theirs = cash_order(slot=visit_slot(hour=15), quantity=1, email="other@example.org")
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    url = reverse("refunds:refund", args=[refund.token])
    foreign_slot = theirs.tickets.get().time_slot_id
    posts = [{"action": value} for value in GARBAGE]
    posts += [{"action": "rebook", "time_slot": value} for value in [*GARBAGE, foreign_slot]]
    posts += [
        {"action": "refund", "account_holder": value, "iban": value, "bic": value}
        for value in GARBAGE
    ]
    for data in posts:
        response = client.post(url, data)
        # then each is answered with the page and a message, or refused plainly
        assert response.status_code in (200, 400), (data, response.status_code)
    refund.refresh_from_db()
    assert (refund.status, refund.iban, refund.choice) == (Refund.Status.OFFERED, "", "")
    assert not Voucher.objects.exists()
    assert theirs.tickets.get().status == Ticket.Status.VALID


def test_garbage_on_the_cancel_request_page_never_500s(client):
    order = cash_order(slot=visit_slot(), quantity=2)
    other = cash_order(slot=visit_slot(hour=15), quantity=1, email="other@example.org")
    url = reverse("refunds:order_cancel", args=[order.access_token])
    for value in [*GARBAGE, other.tickets.get().pk]:
        response = client.post(url, {"tickets": value, "reason": value})
        assert response.status_code in (200, 400), (value, response.status_code)
    assert not Refund.objects.exists()
    # and malformed secret links are answered 404 before any lookup (a NUL byte once
    # reached PostgreSQL and failed there)
    for token in [*GARBAGE[1:], "a b", "x" * 65]:
        for path in (f"/refunds/refund/{quote(token)}/", f"/order/{quote(token)}/"):
            assert client.get(path).status_code == 404, (path, token)
