"""A buyer pays part of an order with a voucher in a real browser, and the rest (demo)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from refunds.models import Voucher, VoucherRedemption
from tests.refunds.core_helpers import visit_slot
from tests.refunds.factories import VoucherFactory
from tests.ticketing.factories import TicketTypeFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buyer_types_a_voucher_then_pays_what_is_left(page, settings):
    # given a held order of 2 x 14 € and a voucher of 10 €, with the demo provider
    settings.PAYMENT_PROVIDER = "demo"
    slot = visit_slot()
    adult = TicketTypeFactory(site=slot.site, price_cents=1400)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.WEB,
        email="guest@example.org",
        name="Ada Guest",
    )
    voucher = VoucherFactory(amount_cents=1000)
    page.goto(reverse("ticketing:order_pay", kwargs={"token": order.access_token}))
    # when the buyer first mistypes the code
    page.get_by_label("Voucher code").fill("ABCD-ABCD-ABCD")
    page.get_by_role("button", name="Use the voucher").click()
    # then the page stays, says why and keeps what was typed
    expect(page.get_by_role("alert")).to_contain_text("This voucher code is not known")
    expect(page.get_by_label("Voucher code")).to_have_value("ABCD-ABCD-ABCD")
    # when the buyer types it in lower case without dashes
    page.get_by_label("Voucher code").fill(voucher.code.replace("-", "").lower())
    page.get_by_role("button", name="Use the voucher").click()
    # then 18 € are left to pay
    expect(page.locator(".order-due")).to_contain_text(re.compile(r"Left to pay: €\s18\.00"))
    # when the buyer pays the rest on the demo page
    page.get_by_role("button", name=re.compile("Pay")).click()
    page.get_by_role("button", name=re.compile("Pay")).click()
    # then the order is paid: 10 € by voucher, 18 € by the demo provider
    expect(page).to_have_url(re.compile(f"/order/{order.access_token}/$"))
    order.refresh_from_db()
    assert (order.status, order.voucher_cents, order.payment_method) == ("paid", 1000, "demo")
    assert order.payments.get().amount_cents == 1800
    assert Voucher.objects.get(pk=voucher.pk).balance_cents == 0
    assert VoucherRedemption.objects.get(order=order).amount_cents == 1000
