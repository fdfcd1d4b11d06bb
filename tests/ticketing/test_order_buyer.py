"""The buyer's details of an order live in OrderBuyer: written through the order, erased alone."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from privacy.purge import purge_run
from tests.privacy.test_purge import at
from tests.ticketing.factories import SiteFactory
from ticketing.models import Order, OrderBuyer

pytestmark = pytest.mark.django_db


def _order(**details) -> Order:
    return Order.objects.create(
        site=SiteFactory(),
        status=Order.Status.PAID,
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        total_cents=1400,
        **details,
    )


def test_details_given_to_the_order_are_saved_in_one_buyer_row():
    # given an order placed with an address, a name and a reseller reference
    order = _order(email="ada@example.org", name="Ada Lovelace", reseller_reference="R-1")
    # then one buyer row holds them, and a fresh copy of the order reads them back
    buyer = OrderBuyer.objects.get()
    assert (buyer.order_id, buyer.email, buyer.name, buyer.reseller_reference) == (
        order.pk,
        "ada@example.org",
        "Ada Lovelace",
        "R-1",
    )
    fresh = Order.objects.get(pk=order.pk)
    assert (fresh.email, fresh.name, fresh.reseller_reference) == (
        "ada@example.org",
        "Ada Lovelace",
        "R-1",
    )
    # and the order is found by its address in any case
    assert list(Order.objects.filter(buyer__email__iexact="ADA@example.ORG")) == [order]


def test_an_order_without_details_has_no_buyer_row_and_reads_blank():
    order = _order()

    assert not OrderBuyer.objects.exists()
    fresh = Order.objects.get(pk=order.pk)
    with CaptureQueriesContext(connection) as queries:
        assert (fresh.email, fresh.name, fresh.reseller_reference) == ("", "", "")
    # the missing row is looked up once, then remembered
    assert len(queries) == 1


def test_a_rectified_address_is_saved_and_blank_details_remove_the_row():
    order = _order(email="ada@example.org", name="Ada")
    fresh = Order.objects.get(pk=order.pk)
    # when the address is corrected and the order saved
    fresh.email = "ada.lovelace@example.org"
    fresh.save()
    assert OrderBuyer.objects.get(pk=order.pk).email == "ada.lovelace@example.org"
    # when every detail is blanked
    fresh.set_buyer()
    fresh.save()
    # then no buyer row is left, and the order stays
    assert not OrderBuyer.objects.exists()
    assert Order.objects.filter(pk=order.pk).exists()
    # and details given again make a new row
    fresh.name = "Ada"
    fresh.save()
    assert OrderBuyer.objects.get(pk=order.pk).name == "Ada"


def test_update_fields_saves_the_buyer_only_when_it_names_a_detail():
    order = _order(email="ada@example.org")
    order.email = "new@example.org"
    order.status = Order.Status.CANCELLED
    # when only the status is saved, the address change waits
    order.save(update_fields=["status"])
    assert OrderBuyer.objects.get(pk=order.pk).email == "ada@example.org"
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED
    # when the e-mail is named, only the buyer row is written
    with CaptureQueriesContext(connection) as queries:
        order.save(update_fields=["email"])
    assert OrderBuyer.objects.get(pk=order.pk).email == "new@example.org"
    assert [q["sql"].split('"')[1] for q in queries.captured_queries] == ["ticketing_orderbuyer"]


def test_deleting_an_order_deletes_its_buyer():
    order = _order(email="ada@example.org")

    order.delete()

    assert not OrderBuyer.objects.exists()


def test_the_purge_erases_the_buyer_and_leaves_the_order_row_untouched():
    # given an order paid in 2019 and one paid last year
    old = _order(email="old@example.org", name="Old Buyer")
    recent = _order(email="new@example.org", name="New Buyer")
    written = timezone.now() - dt.timedelta(days=1)
    Order.objects.filter(pk=old.pk).update(
        created_at=at(2019, 3, 1), paid_at=at(2019, 3, 1), updated_at=written
    )
    Order.objects.filter(pk=recent.pk).update(created_at=at(2025, 3, 1), paid_at=at(2025, 3, 1))
    # when the nightly purge runs in June 2026
    run = purge_run(as_of=at(2026, 6, 1))
    # then the old order's buyer row is gone and the recent one's stays
    assert run.report["ticketing.order:buyer"]["deleted"] == 1
    assert list(OrderBuyer.objects.values_list("email", flat=True)) == ["new@example.org"]
    # and the old order, an accounting record, is still there, not even rewritten
    kept = Order.objects.get(pk=old.pk)
    assert (kept.total_cents, kept.status, kept.updated_at) == (1400, Order.Status.PAID, written)
    assert (kept.email, kept.name) == ("", "")
