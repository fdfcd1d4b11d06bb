"""Spending vouchers: on a held web order, with the rest paid by card, at the desk; given
back when the order expires unpaid or its tickets are refunded."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from museum.models import AuditEvent, OutboxEmail
from refunds.errors import VoucherError
from refunds.models import Refund, Voucher, VoucherRedemption
from refunds.services.refunds import refund_approve, refund_bank_details_set, refund_request
from refunds.services.transfers import transfer_batch_export, transfers_due
from refunds.services.vouchers import (
    voucher_apply,
    voucher_code_normalise,
    vouchers_release_for_orders,
)
from tests.refunds.core_helpers import desk_order, visit_slot
from tests.refunds.factories import VALID_IBANS, VoucherFactory
from tests.ticketing.conftest import desk, desk_user  # noqa: F401  the front desk's client
from tests.ticketing.stripe_helpers import _deliver, _held_order, _start
from ticketing.models import Order, Payment, Ticket
from ticketing.services.orders import orders_expire_holds

pytestmark = pytest.mark.django_db


def _spent_and_left(voucher: Voucher) -> tuple[int, int]:
    """(balance, value still spent on orders): their sum is the voucher's value, always."""
    voucher.refresh_from_db()
    spent = sum(
        r.amount_cents - r.returned_cents for r in VoucherRedemption.objects.filter(voucher=voucher)
    )
    return voucher.balance_cents, spent


# --- Applying a voucher ---------------------------------------------------------------


def test_a_voucher_pays_part_of_a_held_order_and_the_rest_stays_due():
    # given a held web order of 2 x 14 € and a voucher of 10 €
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=1000)
    # when the buyer types its code in lower case, without dashes
    redemption = voucher_apply(order=order, code=" " + voucher.code.replace("-", "").lower())
    # then all 10 € are spent and 18 € are left to pay; the order still waits for payment
    assert (redemption.amount_cents, redemption.order, redemption.voucher) == (1000, order, voucher)
    order.refresh_from_db()
    assert (order.status, order.voucher_cents, order.due_cents) == ("pending", 1000, 1800)
    assert _spent_and_left(voucher) == (0, 1000)
    event = AuditEvent.objects.get(action="voucher.applied")
    assert (event.subject_id, event.data["amount_cents"], event.data["due_cents"]) == (
        str(order.pk),
        1000,
        1800,
    )


def test_a_voucher_worth_more_than_the_order_pays_it_all_and_issues_the_tickets():
    # given a held web order of 28 € and a voucher of 50 €
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=5000)
    # when the voucher is applied
    voucher_apply(order=order, code=voucher.code)
    # then the order is paid by voucher, its tickets valid and e-mailed; 22 € stay on it
    order.refresh_from_db()
    assert (order.status, order.payment_method, order.voucher_cents, order.due_cents) == (
        Order.Status.PAID,
        Order.PaymentMethod.VOUCHER,
        2800,
        0,
    )
    assert set(order.tickets.values_list("status", flat=True)) == {Ticket.Status.VALID}
    assert OutboxEmail.objects.filter(dedupe_key=f"ticketing.order_tickets:{order.pk}:0").exists()
    assert _spent_and_left(voucher) == (2200, 2800)


def test_codes_are_read_in_any_case_with_or_without_dashes():
    assert voucher_code_normalise("abcd efgh-jkmn") == "ABCD-EFGH-JKMN"
    assert voucher_code_normalise("ABCDEFGHJKMN") == "ABCD-EFGH-JKMN"
    assert voucher_code_normalise("ABCD-EFGH") == ""
    assert voucher_code_normalise("ÀBCD-EFGH-JKMN") == ""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "Enter the code of your voucher."),
        ("unknown", "This voucher code is not known. Check it and try again."),
        ("expired", "This voucher expired on"),
        ("used_up", "Nothing is left on this voucher."),
        ("currency", "This voucher is in CHF and cannot pay this order."),
        ("twice", "This voucher is already used on this order."),
        ("hold_over", "This order is no longer waiting for payment"),
    ],
)
def test_a_refused_voucher_changes_nothing(case, message):
    # given a held order and a voucher that cannot pay it, for each reason
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=2000)
    code = voucher.code
    now = timezone.now()
    if case == "empty":
        code = "  "
    elif case == "unknown":
        code = "AAAA-BBBB-CCCC"
    elif case == "expired":
        Voucher.objects.filter(pk=voucher.pk).update(
            valid_until=timezone.localdate() - dt.timedelta(days=1)
        )
    elif case == "used_up":
        Voucher.objects.filter(pk=voucher.pk).update(balance_cents=0)
    elif case == "currency":
        Voucher.objects.filter(pk=voucher.pk).update(currency="CHF")
    elif case == "twice":
        voucher_apply(order=order, code=code)
    elif case == "hold_over":
        now = order.hold_expires_at + dt.timedelta(seconds=1)
    before_voucher = Voucher.objects.values().get(pk=voucher.pk)
    before_order = Order.objects.values().get(pk=order.pk)
    redemptions = VoucherRedemption.objects.count()
    # when it is applied
    with pytest.raises(VoucherError) as refused:
        voucher_apply(order=order, code=code, now=now)
    # then the buyer reads why, and nothing changed
    assert str(refused.value.message).startswith(message)
    assert Voucher.objects.values().get(pk=voucher.pk) == before_voucher
    assert Order.objects.values().get(pk=order.pk) == before_order
    assert VoucherRedemption.objects.count() == redemptions


def test_an_expired_voucher_says_so_but_an_unknown_code_reveals_nothing():
    order = _held_order(quantity=1)
    voucher = VoucherFactory(valid_until=dt.date(2020, 1, 31))
    with pytest.raises(VoucherError) as expired:
        voucher_apply(order=order, code=voucher.code)
    assert str(expired.value.message) == "This voucher expired on 2020-01-31."
    with pytest.raises(VoucherError) as unknown:
        voucher_apply(order=order, code="not a code at all")
    assert str(unknown.value.message) == "This voucher code is not known. Check it and try again."


# --- Paying the rest by card ----------------------------------------------------------


def test_the_rest_is_paid_through_stripe_for_the_amount_due(fake_stripe, client):
    # given a held order of 28 € with a voucher of 10 € applied
    order = _held_order(quantity=2)
    voucher_apply(order=order, code=VoucherFactory(amount_cents=1000).code)
    # when the buyer pays the rest
    payment = _start(order)
    # then Checkout asks for 18 €, on one line saying a voucher was applied
    (call,) = fake_stripe.calls("POST", "/v1/checkout/sessions")
    (line,) = call.params["line_items"]
    assert line["price_data"]["unit_amount"] == "1800"
    assert line["price_data"]["product_data"]["name"] == f"Order {order.code} (voucher applied)"
    assert (payment.amount_cents, fake_stripe.session(payment.reference)["amount_total"]) == (
        1800,
        1800,
    )
    # when Stripe reports 18 € paid
    _deliver(client, "checkout.session.completed", fake_stripe.pay(payment.reference))
    # then the order is paid by card, its voucher part kept
    order.refresh_from_db()
    assert (order.status, order.payment_method, order.voucher_cents) == ("paid", "stripe", 1000)
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.SUCCEEDED


def test_a_session_opened_before_the_voucher_is_not_reused_and_paying_it_refunds(
    fake_stripe, client, run_tasks
):
    # given a Checkout session opened for 28 €, then a voucher of 10 € applied
    order = _held_order(quantity=2)
    first = _start(order)
    voucher = VoucherFactory(amount_cents=1000)
    voucher_apply(order=order, code=voucher.code)
    # when the buyer starts paying again
    second = _start(order)
    # then a new session for 18 € is opened, under a new idempotency key
    assert second.pk != first.pk
    assert (first.amount_cents, second.amount_cents) == (2800, 1800)
    keys = [c.header("Idempotency-Key") for c in fake_stripe.calls("POST", "/v1/checkout/sessions")]
    assert keys == [f"checkout-{order.code}-1", f"checkout-{order.code}-2"]
    # when the buyer pays the old session of 28 € in another tab anyway
    with run_tasks():
        response = _deliver(client, "checkout.session.completed", fake_stripe.pay(first.reference))
    # then the 28 € go back to the card, and the voucher gets its 10 € back
    assert response.content == b"refunding"
    (refund_call,) = fake_stripe.calls("POST", "/v1/refunds")
    assert refund_call.params["amount"] == "2800"
    order.refresh_from_db()
    assert (order.status, order.voucher_cents) == (Order.Status.REFUND_PENDING, 0)
    assert _spent_and_left(voucher) == (1000, 0)


# --- Release when the order is never paid ---------------------------------------------


def test_an_expired_hold_gives_the_voucher_back_once_and_a_late_payment_is_refunded(
    fake_stripe, client, run_tasks
):
    # given a held order of 28 € with 15 € of a voucher and a session opened for 13 €
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=1500)
    voucher_apply(order=order, code=voucher.code)
    payment = _start(order)
    assert _spent_and_left(voucher) == (0, 1500)
    # when the hold runs out and the sweep runs, twice
    later = order.hold_expires_at + dt.timedelta(minutes=1)
    assert orders_expire_holds(now=later) == 1
    assert orders_expire_holds(now=later) == 0
    # then the order expired and the voucher has its whole value back, once
    order.refresh_from_db()
    assert (order.status, order.voucher_cents, order.due_cents) == ("expired", 0, 2800)
    assert _spent_and_left(voucher) == (1500, 0)
    assert VoucherRedemption.objects.get(order=order).returned_cents == 1500
    assert AuditEvent.objects.filter(action="voucher.released").count() == 1
    # when the buyer pays the 13 € session late
    with run_tasks():
        response = _deliver(
            client, "checkout.session.completed", fake_stripe.pay(payment.reference)
        )
    # then it no longer matches what is due: the money goes back, the voucher keeps its value
    assert response.content == b"refunding"
    (refund_call,) = fake_stripe.calls("POST", "/v1/refunds")
    assert refund_call.params["amount"] == "1300"
    order.refresh_from_db()
    assert order.status == Order.Status.REFUND_PENDING
    assert _spent_and_left(voucher) == (1500, 0)


def test_an_order_expired_by_a_cancellation_gives_the_voucher_back_at_the_next_sweep():
    # given a held order with a voucher whose hold a cancellation ended (as campaigns do)
    order = _held_order(quantity=1)
    voucher = VoucherFactory(amount_cents=1000)
    voucher_apply(order=order, code=voucher.code)
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.EXPIRED, hold_expires_at=timezone.now()
    )
    # when the hold sweep runs
    orders_expire_holds()
    # then the voucher has its value back
    assert _spent_and_left(voucher) == (1000, 0)
    order.refresh_from_db()
    assert order.voucher_cents == 0


def test_a_paid_order_keeps_its_voucher_when_asked_to_release():
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=5000)
    voucher_apply(order=order, code=voucher.code)  # pays all: the order is paid
    assert vouchers_release_for_orders(order_ids=[order.pk]) == 0
    assert _spent_and_left(voucher) == (2200, 2800)


@pytest.mark.django_db(transaction=True)
def test_two_orders_spending_one_small_voucher_at_once_never_overspend():
    # given a voucher of 10 € and two held orders of 14 € (built and committed)
    orders = [_held_order(quantity=1, email=f"b{i}@example.org") for i in range(2)]
    voucher = VoucherFactory(amount_cents=1000)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def spend(order: Order) -> None:
        try:
            barrier.wait(timeout=10)
            redemption = voucher_apply(order=Order.objects.get(pk=order.pk), code=voucher.code)
            results.append(str(redemption.amount_cents))
        except VoucherError as exc:
            results.append(str(exc.message))
        finally:
            connection.close()

    threads = [threading.Thread(target=spend, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    # then one order got the 10 €, the other was told nothing is left; nothing overspent
    assert sorted(results) == ["1000", "Nothing is left on this voucher."]
    assert _spent_and_left(voucher) == (0, 1000)
    assert sum(Order.objects.values_list("voucher_cents", flat=True)) == 1000


# --- At the front desk ----------------------------------------------------------------


def _desk_post(desk, slot, adult, **extra):  # noqa: F811
    return desk.post(
        reverse("admin:ticketing_order_sell"),
        {
            "slot": slot.pk,
            f"qty_{adult.pk}": "2",
            "name": "Ada",
            "email": "",
            "language": "en",
            "payment_method": "cash",
            **extra,
        },
    )


def _desk_slot():
    from tests.refunds.core_helpers import _adult

    slot = visit_slot(days_ahead=1)
    return slot, _adult(slot)


def test_a_desk_sale_with_a_bad_voucher_sells_nothing(desk):  # noqa: F811
    # given a slot on sale at the desk and an expired voucher
    slot, adult = _desk_slot()
    expired = VoucherFactory(valid_until=timezone.localdate() - dt.timedelta(days=1))
    for code, message in [
        ("WXYZ-WXYZ-WXYZ", "This voucher code is not known. Check it and try again."),
        (expired.code, "This voucher expired on"),
    ]:
        # when the clerk sells two tickets with that code
        response = _desk_post(desk, slot, adult, voucher_code=code)
        # then the form comes back with the message and what was typed; nothing is sold
        assert response.status_code == 200
        errors = response.context["form"].errors["voucher_code"]
        assert errors[0].startswith(message)
        assert response.context["form"]["voucher_code"].value() == code
        assert not Order.objects.exists()
        assert not Ticket.objects.exists()
    assert Voucher.objects.get(pk=expired.pk).balance_cents == expired.amount_cents


def test_a_desk_sale_with_a_voucher_shows_what_is_left_to_collect(desk):  # noqa: F811
    # given a voucher of 10 € and two tickets of 14 € sold for cash
    slot, adult = _desk_slot()
    voucher = VoucherFactory(amount_cents=1000)
    response = _desk_post(desk, slot, adult, voucher_code=voucher.code.lower())
    # then the order is paid, 18 € to collect in cash
    order = Order.objects.get()
    assert response.status_code == 302
    assert (order.status, order.payment_method, order.voucher_cents) == ("paid", "cash", 1000)
    page = desk.get(response["Location"]).content.decode()
    assert "To collect: € 18.00" in page.replace("\xa0", " ")
    assert _spent_and_left(voucher) == (0, 1000)


def test_a_desk_sale_the_voucher_pays_in_full_is_paid_by_voucher(desk):  # noqa: F811
    slot, adult = _desk_slot()
    voucher = VoucherFactory(amount_cents=4000)
    _desk_post(desk, slot, adult, voucher_code=voucher.code)
    order = Order.objects.get()
    assert (order.payment_method, order.due_cents) == (Order.PaymentMethod.VOUCHER, 0)
    assert _spent_and_left(voucher) == (1200, 2800)


def test_a_desk_order_takes_no_voucher_after_its_sale():
    order = desk_order(slot=visit_slot(), quantity=1)
    voucher = VoucherFactory()
    with pytest.raises(VoucherError):
        voucher_apply(order=order, code=voucher.code)
    assert _spent_and_left(voucher) == (2800, 0)


# --- Refunds of what a voucher paid ---------------------------------------------------


def test_a_refund_credits_the_voucher_and_asks_stripe_only_for_the_money(
    fake_stripe, client, run_tasks
):
    # given an order of 28 € paid 10 € by voucher and 18 € by card, a week ahead
    order = _held_order(slot=visit_slot(), quantity=2)
    voucher = VoucherFactory(amount_cents=1000)
    voucher_apply(order=order, code=voucher.code)
    payment = _start(order)
    _deliver(client, "checkout.session.completed", fake_stripe.pay(payment.reference))
    # when the buyer asks to cancel it all and staff approve the full 28 €
    refund = refund_request(order=Order.objects.get(pk=order.pk), ticket_ids=None)
    assert refund.method == Refund.Method.STRIPE
    with run_tasks():
        refund_approve(refund=refund, actor=None)
    # then 10 € are back on the voucher and Stripe is asked for 18 €
    refund.refresh_from_db()
    assert (refund.amount_cents, refund.voucher_cents, refund.money_cents) == (2800, 1000, 1800)
    assert _spent_and_left(voucher) == (1000, 0)
    (call,) = fake_stripe.calls("POST", "/v1/refunds")
    assert call.params["amount"] == "1800"
    assert refund.status == Refund.Status.SENT
    # and approving again is refused and credits nothing more
    with pytest.raises(Exception):  # noqa: B017  RefundError: already decided
        refund_approve(refund=refund, actor=None)
    assert _spent_and_left(voucher) == (1000, 0)


def test_a_refund_of_an_order_paid_by_voucher_alone_is_settled_at_once():
    # given an order a voucher paid in full
    order = _held_order(slot=visit_slot(), quantity=2)
    voucher = VoucherFactory(amount_cents=3000)
    voucher_apply(order=order, code=voucher.code)
    # when all of it is refunded
    refund = refund_request(order=Order.objects.get(pk=order.pk), ticket_ids=None)
    refund_approve(refund=refund, actor=None)
    # then it all goes back on the voucher, nothing is owed as money, the order is refunded
    refund.refresh_from_db()
    assert (refund.status, refund.voucher_cents, refund.money_cents) == ("succeeded", 2800, 0)
    assert not refund.needs_bank_details
    assert not transfers_due().exists()
    assert _spent_and_left(voucher) == (3000, 0)
    assert Order.objects.get(pk=order.pk).status == Order.Status.REFUNDED


def test_a_bank_refund_transfers_only_the_money_part(desk):  # noqa: F811
    # given a desk order of 28 €: 10 € by voucher, 18 € in cash
    slot = visit_slot(days_ahead=6)
    from tests.refunds.core_helpers import _adult

    adult = _adult(slot)
    voucher = VoucherFactory(amount_cents=1000)
    _desk_post(desk, slot, adult, voucher_code=voucher.code)
    order = Order.objects.get()
    # when it is refunded by bank transfer
    refund = refund_request(order=order, ticket_ids=None)
    refund_approve(refund=refund, actor=None)
    refund_bank_details_set(
        refund=refund, account_holder="Ada Lovelace", iban=VALID_IBANS["BE"], bic=""
    )
    batch = transfer_batch_export(actor=None)
    # then the file pays 18 € and the voucher has its 10 € back
    assert batch is not None
    assert (batch.count, batch.total_cents) == (1, 1800)
    assert '<InstdAmt Ccy="EUR">18.00</InstdAmt>' in batch.xml
    assert _spent_and_left(voucher) == (1000, 0)


# --- The public payment page ----------------------------------------------------------


def test_the_payment_page_takes_a_voucher_and_shows_what_is_left(client):
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=1000)
    url = reverse("ticketing:order_pay", kwargs={"token": order.access_token})
    response = client.post(url, {"voucher_code": voucher.code})
    assert response.status_code == 302
    assert response["Location"] == url
    page = client.get(url).content.decode().replace("\xa0", " ")
    assert "Left to pay: € 18.00" in page
    assert voucher.code in page


def test_a_voucher_that_pays_all_on_the_page_leads_to_the_tickets(client):
    order = _held_order(quantity=1)
    voucher = VoucherFactory(amount_cents=5000)
    url = reverse("ticketing:order_pay", kwargs={"token": order.access_token})
    response = client.post(url, {"voucher_code": voucher.code})
    assert response["Location"] == reverse(
        "ticketing:order_detail", kwargs={"token": order.access_token}
    )
    assert Order.objects.get(pk=order.pk).status == Order.Status.PAID


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the code of your voucher."),
        ("ZZZZ-ZZZZ-ZZZZ", "This voucher code is not known. Check it and try again."),
        ("expired", "This voucher expired on"),
        ("x" * 500, "This voucher code is not known. Check it and try again."),
        ("<script>", "This voucher code is not known. Check it and try again."),
    ],
)
def test_a_bad_code_on_the_payment_page_keeps_the_page_and_says_why(client, typed, message):
    order = _held_order(quantity=2)
    if typed == "expired":
        typed = VoucherFactory(valid_until=timezone.localdate() - dt.timedelta(days=3)).code
    url = reverse("ticketing:order_pay", kwargs={"token": order.access_token})
    response = client.post(url, {"voucher_code": typed})
    assert response.status_code == 400
    assert response.context["voucher_error"].startswith(message)
    assert response.context["voucher_code"] == typed[:40]
    assert "Check and pay" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.voucher_cents) == ("pending", 0)


def test_guessing_codes_on_the_payment_page_is_rate_limited(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout": "2/1m"}
    order = _held_order(quantity=2)
    voucher = VoucherFactory(amount_cents=1000)
    url = reverse("ticketing:order_pay", kwargs={"token": order.access_token})
    for guess in ("AAAA-AAAA-AAAA", "BBBB-BBBB-BBBB"):
        client.post(url, {"voucher_code": guess})
    response = client.post(url, {"voucher_code": voucher.code})
    assert response.status_code == 400
    assert response.context["voucher_error"].startswith("Too many attempts")
    assert _spent_and_left(voucher) == (1000, 0)


def test_a_cancelled_visit_paid_by_voucher_alone_goes_back_on_the_voucher_without_an_iban(
    client, run_tasks
):
    # given an order a voucher paid in full, whose day the museum then cancels
    from refunds.models import Campaign
    from refunds.services.campaigns import campaign_preview, campaign_start

    slot = visit_slot()
    order = _held_order(slot=slot, quantity=2)
    voucher = VoucherFactory(amount_cents=2800)
    voucher_apply(order=order, code=voucher.code)
    day = timezone.localtime(slot.starts_at).date()
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SITE, site=slot.site, first_day=day, last_day=day, reason="flood"
    )
    assert campaign_preview(campaign=campaign).by_method == {
        "voucher": {"orders": 1, "amount_cents": 2800}
    }
    with run_tasks():
        campaign_start(campaign=campaign, actor=None)
    refund = Refund.objects.get(order=order)
    assert (refund.method, refund.needs_bank_details) == (Refund.Method.VOUCHER, False)
    # when the buyer opens the offer, money back needs no bank details
    page = client.get(reverse("refunds:refund", args=[refund.token])).content.decode()
    assert 'name="iban"' not in page
    # and chooses it
    response = client.post(reverse("refunds:refund", args=[refund.token]), {"action": "refund"})
    assert response.status_code == 302
    # then the value is back on the voucher and nothing is owed as money
    refund.refresh_from_db()
    assert (refund.status, refund.voucher_cents, refund.money_cents) == ("succeeded", 2800, 0)
    assert _spent_and_left(voucher) == (2800, 0)


def test_value_given_back_to_a_voucher_that_ran_out_is_spendable_again(settings):
    # given an order paid by a voucher that expires tomorrow
    settings.REFUNDS = {**settings.REFUNDS, "VOUCHER_MONTHS": 12}
    order = _held_order(slot=visit_slot(), quantity=1)
    voucher = VoucherFactory(
        amount_cents=1400, valid_until=timezone.localdate() + dt.timedelta(days=1)
    )
    voucher_apply(order=order, code=voucher.code)
    # when the ticket is refunded
    refund = refund_request(order=Order.objects.get(pk=order.pk), ticket_ids=None)
    refund_approve(refund=refund, actor=None)
    # then the value is back and usable for a new voucher's twelve months
    voucher.refresh_from_db()
    assert voucher.balance_cents == 1400
    assert voucher.valid_until >= timezone.localdate() + dt.timedelta(days=365)


def test_the_refund_page_says_what_went_back_on_the_voucher(client):
    # given an order of 28 € paid 10 € by voucher and 18 € in cash at the desk, refunded
    order = _held_order(slot=visit_slot(), quantity=2)
    voucher = VoucherFactory(amount_cents=1000)
    voucher_apply(order=order, code=voucher.code)
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAID, payment_method=Order.PaymentMethod.CASH, paid_at=timezone.now()
    )
    Ticket.objects.filter(order=order).update(status=Ticket.Status.VALID)
    refund = refund_request(order=Order.objects.get(pk=order.pk), ticket_ids=None)
    refund_approve(refund=refund, actor=None)
    # when the buyer opens the refund page
    page = client.get(reverse("refunds:refund", args=[refund.token])).content.decode()
    # then it shows both parts
    assert "Back on your voucher" in page
    assert "€\u00a010.00" in page and "€\u00a018.00 paid back as money" in page
