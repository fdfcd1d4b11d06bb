"""The admin of refunds: the staff queue, deciding a request, the buttons of a refund's
page, the bank transfer file, vouchers and the report."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from museum.models import AuditEvent, OutboxEmail
from refunds.models import Refund, TransferBatch
from tests.refunds.factories import PaidOrderFactory, RefundFactory, VoucherFactory
from tests.staff import staff_user
from ticketing.models import Order, Ticket

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _client(email: str, group: str) -> Client:
    client = Client()
    client.force_login(staff_user(email, group))
    return client


@pytest.fixture
def manager() -> Client:
    return _client("manager@museum.example", "Manager")


@pytest.fixture
def desk() -> Client:
    return _client("desk@museum.example", "Front desk")


def _requested(**fields) -> Refund:
    """A buyer's request to cancel both tickets of a paid desk order (2 × 14 euros)."""
    order = PaidOrderFactory(tickets=2)
    refund = RefundFactory(
        order=order,
        status=Refund.Status.REQUESTED,
        choice="",
        approved_at=None,
        bank_details=False,
        buyer_reason="We are ill.",
        **fields,
    )
    refund.tickets.set(order.tickets.all())
    return refund


def _action(refund: Refund, name: str) -> str:
    return reverse("admin:refunds_refund_action", args=[refund.pk, name])


# --- The queue ---------------------------------------------------------------------------------


def test_queue_shows_requests_first_oldest_first_with_masked_iban(manager):
    paid = RefundFactory(status=Refund.Status.SUCCEEDED)
    older = _requested()
    newer = _requested()
    Refund.objects.filter(pk=older.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    response = manager.get(reverse("admin:refunds_refund_changelist"))
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [older, newer, paid]
    assert b"BE\xe2\x80\xa2\xe2\x80\xa2 \xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2 7034" in (
        response.content
    )
    assert b"BE68539007547034" not in response.content
    assert b"Requests to decide (2)" in response.content


def test_queue_filters_and_search(manager):
    wanted = _requested()
    RefundFactory(status=Refund.Status.SUCCEEDED)
    url = reverse("admin:refunds_refund_changelist")
    by_status = manager.get(url, {"status__exact": "requested"})
    assert list(by_status.context["cl"].result_list) == [wanted]
    by_code = manager.get(url, {"q": wanted.order.code})
    assert list(by_code.context["cl"].result_list) == [wanted]
    by_email = manager.get(url, {"q": wanted.order.email})
    assert list(by_email.context["cl"].result_list) == [wanted]


def test_queue_logs_the_staff_view_of_buyers(manager):
    _requested()
    manager.get(reverse("admin:refunds_refund_changelist"))
    event = AuditEvent.objects.get(action="personal_data.listed")
    assert event.data["model"] == "refunds.refund"
    assert event.data["rows"] == 1


def test_queue_query_count_does_not_grow_with_rows(manager, django_assert_max_num_queries):
    from tests.refunds.factories import CampaignFactory

    campaign = CampaignFactory()
    for _ in range(3):
        _requested()
    for _ in range(15):
        RefundFactory(campaign=campaign, origin=Refund.Origin.CAMPAIGN)
    url = reverse("admin:refunds_refund_changelist")
    manager.get(url)  # warm the session and the permissions' cache
    with django_assert_max_num_queries(12):
        response = manager.get(url)
    assert len(response.context["cl"].result_list) == 18


# --- Deciding a request ------------------------------------------------------------------------


def test_manager_approves_part_of_a_request_with_a_fee(manager):
    refund = _requested()
    response = manager.post(_action(refund, "approve"), {"amount": "20.00", "fee": "3.50"})
    assert response.status_code == 302
    assert response.url == reverse("admin:refunds_refund_change", args=[refund.pk])
    refund.refresh_from_db()
    assert refund.status == Refund.Status.APPROVED
    assert (refund.amount_cents, refund.fee_cents) == (2000, 350)
    assert refund.decided_by.email == "manager@museum.example"
    assert set(refund.tickets.values_list("status", flat=True)) == {Ticket.Status.CANCELLED}
    assert AuditEvent.objects.filter(
        action="refund.approved", subject_id=str(refund.pk), data__fee_cents=350
    ).exists()


def test_approving_more_than_was_paid_is_refused_with_nothing_changed(manager):
    refund = _requested()
    response = manager.post(_action(refund, "approve"), {"amount": "27.00", "fee": "3.00"})
    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [
        "At most 25.00 can be paid back (28.00 paid, minus the fee)."
    ]
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REQUESTED
    assert (refund.amount_cents, refund.fee_cents) == (2800, 0)
    assert not AuditEvent.objects.filter(action="refund.approved").exists()


def test_refusing_without_a_reason_is_rejected_with_nothing_changed(manager):
    refund = _requested()
    response = manager.post(_action(refund, "refuse"), {"reason": "   "})
    assert response.status_code == 200
    assert response.context["form"].errors["reason"] == ["This field is required."]
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REQUESTED
    assert refund.staff_reason == ""
    assert not OutboxEmail.objects.filter(dedupe_key__startswith="refunds.refused").exists()


def test_manager_refuses_with_a_reason_and_the_buyer_is_told(manager):
    refund = _requested()
    response = manager.post(_action(refund, "refuse"), {"reason": "The visit is tomorrow."})
    assert response.status_code == 302
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REFUSED
    assert refund.staff_reason == "The visit is tomorrow."
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.refused:{refund.pk}").exists()


def test_deciding_twice_shows_the_services_message(manager):
    refund = _requested()
    manager.post(_action(refund, "refuse"), {"reason": "No."})
    response = manager.post(_action(refund, "approve"), {"amount": "", "fee": "0"}, follow=True)
    assert "This request was already decided." in _messages(response)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REFUSED


def test_desk_cannot_decide_a_request(desk):
    refund = _requested()
    assert desk.get(_action(refund, "approve")).status_code == 403
    assert desk.post(_action(refund, "approve"), {"amount": "", "fee": "0"}).status_code == 403
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REQUESTED


def test_change_page_is_read_only_with_buttons_and_audit_trail(manager):
    refund = _requested()
    manager.post(_action(refund, "refuse"), {"reason": "No."})
    response = manager.get(reverse("admin:refunds_refund_change", args=[refund.pk]))
    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}  # nothing editable
    assert [e.action for e in response.context["audit_trail"]] == ["refund.refused"]
    assert AuditEvent.objects.filter(
        action="personal_data.viewed", subject_id=str(refund.pk)
    ).exists()
    # a manager posting the form changes nothing
    response = manager.post(
        reverse("admin:refunds_refund_change", args=[refund.pk]), {"amount_cents": "1"}
    )
    refund.refresh_from_db()
    assert refund.amount_cents == 2800


def test_requested_refund_offers_approve_and_refuse_to_a_manager_only(manager, desk):
    refund = _requested()
    url = reverse("admin:refunds_refund_change", args=[refund.pk])
    assert manager.get(url).context["refund_actions"] == ["approve", "refuse", "bank"]
    assert desk.get(url).context["refund_actions"] == ["bank"]


# --- The buttons of a refund ---------------------------------------------------------------------


def test_desk_records_a_bank_refund_paid_in_cash(desk):
    refund = RefundFactory(bank_details=False)
    response = desk.post(_action(refund, "cash"), follow=True)
    assert "The refund is recorded as paid in cash at the desk." in _messages(response)
    refund.refresh_from_db()
    assert (refund.status, refund.method) == (Refund.Status.SUCCEEDED, Refund.Method.CASH)
    refund.order.refresh_from_db()
    assert refund.order.status == Order.Status.REFUNDED


def test_cash_for_a_card_refund_is_refused_with_nothing_changed(desk):
    refund = RefundFactory(method=Refund.Method.DEMO, bank_details=False)
    response = desk.post(_action(refund, "cash"), follow=True)
    assert "Only an approved bank refund not yet exported can be paid in cash." in _messages(
        response
    )
    refund.refresh_from_db()
    assert (refund.status, refund.method) == (Refund.Status.APPROVED, Refund.Method.DEMO)


def test_desk_enters_bank_details_for_the_buyer(desk):
    refund = RefundFactory(bank_details=False)
    response = desk.post(
        _action(refund, "bank"),
        {"account_holder": "Ada Lovelace", "iban": "NL91 ABNA 0417 1643 00", "bic": ""},
    )
    assert response.status_code == 302
    refund.refresh_from_db()
    assert (refund.account_holder, refund.iban) == ("Ada Lovelace", "NL91ABNA0417164300")
    event = AuditEvent.objects.get(action="refund.bank_details_given")
    assert event.actor.email == "desk@museum.example"


def test_a_wrong_iban_is_shown_and_nothing_saved(desk):
    refund = RefundFactory(bank_details=False)
    response = desk.post(
        _action(refund, "bank"),
        {"account_holder": "Ada Lovelace", "iban": "NL91 ABNA 0417 1643 01", "bic": ""},
    )
    assert response.status_code == 200
    assert len(_messages(response)) == 1
    refund.refresh_from_db()
    assert refund.iban == ""
    assert not AuditEvent.objects.filter(action="refund.bank_details_given").exists()


def test_manager_retries_a_failed_refund_and_switches_a_card_refund_to_bank(manager):
    bank = RefundFactory(status=Refund.Status.FAILED, failure="closed account")
    response = manager.post(_action(bank, "retry"), follow=True)
    assert "The refund is tried again." in _messages(response)
    bank.refresh_from_db()
    assert (bank.status, bank.attempt) == (Refund.Status.APPROVED, 2)
    card = RefundFactory(status=Refund.Status.FAILED, method=Refund.Method.DEMO, bank_details=False)
    manager.post(_action(card, "to_bank"))
    card.refresh_from_db()
    assert (card.status, card.method) == (Refund.Status.APPROVED, Refund.Method.BANK_TRANSFER)


def test_retrying_a_refund_that_has_not_failed_changes_nothing(manager):
    refund = RefundFactory()
    response = manager.post(_action(refund, "retry"), follow=True)
    assert "Only a failed refund can be tried again." in _messages(response)
    refund.refresh_from_db()
    assert (refund.status, refund.attempt) == (Refund.Status.APPROVED, 1)


def test_desk_cannot_retry(desk):
    refund = RefundFactory(status=Refund.Status.FAILED)
    assert desk.post(_action(refund, "retry")).status_code == 403
    refund.refresh_from_db()
    assert refund.status == Refund.Status.FAILED


# --- Bank transfer files ---------------------------------------------------------------------------


def test_export_download_bounce_and_mark_paid(manager):
    first, second = RefundFactory(), RefundFactory()
    RefundFactory(bank_details=False)  # waits for the buyer's account: not in the file
    page = manager.get(reverse("admin:refunds_transferbatch_export"))
    assert (page.context["due"], page.context["due_cents"]) == (2, 5600)
    assert page.context["waiting_for_details"] == 1
    # when the manager makes the file
    response = manager.post(reverse("admin:refunds_transferbatch_export"), {"execution_date": ""})
    batch = TransferBatch.objects.get()
    assert response.url == reverse("admin:refunds_transferbatch_change", args=[batch.pk])
    assert (batch.count, batch.total_cents) == (2, 5600)
    # then the XML downloads as an attachment named after its message id
    download = manager.get(reverse("admin:refunds_transferbatch_download", args=[batch.pk]))
    assert download.status_code == 200
    assert download["Content-Type"] == "application/xml; charset=utf-8"
    assert download["Content-Disposition"] == f'attachment; filename="{batch.message_id}.xml"'
    assert b"BE68539007547034" in download.content
    assert AuditEvent.objects.filter(
        action="personal_data.listed", data__model="refunds.refund", data__rows=2
    ).exists()
    # the batch page lists its transfers with masked accounts
    page = manager.get(reverse("admin:refunds_transferbatch_change", args=[batch.pk]))
    assert [r.iban_masked for r in page.context["batch_refunds"]] == ["BE•• •••• 7034"] * 2
    # the bank sends one back; a bounce without a reason is refused
    bounce = reverse("admin:refunds_transferbatch_bounced", args=[batch.pk, second.pk])
    refused = manager.post(bounce, {"reason": " "}, follow=True)
    assert "Say why the bank sent the transfer back." in " ".join(_messages(refused))
    second.refresh_from_db()
    assert second.status == Refund.Status.SENT
    manager.post(bounce, {"reason": "AC04 closed account"})
    second.refresh_from_db()
    assert (second.status, second.failure) == (Refund.Status.FAILED, "AC04 closed account")
    # and the file is marked paid: the other transfer is paid back
    manager.post(reverse("admin:refunds_transferbatch_paid", args=[batch.pk]))
    batch.refresh_from_db()
    first.refresh_from_db()
    assert batch.status == TransferBatch.Status.PAID
    assert first.status == Refund.Status.SUCCEEDED
    assert second.status == Refund.Status.FAILED
    again = manager.post(reverse("admin:refunds_transferbatch_paid", args=[batch.pk]), follow=True)
    assert any("already marked paid" in m for m in _messages(again))


def test_export_with_nothing_due_makes_no_file(manager):
    response = manager.post(
        reverse("admin:refunds_transferbatch_export"), {"execution_date": ""}, follow=True
    )
    assert "No refund is due by bank transfer; no file was made." in _messages(response)
    assert not TransferBatch.objects.exists()


def test_desk_cannot_export_download_or_mark_paid(desk, manager):
    RefundFactory()
    assert desk.get(reverse("admin:refunds_transferbatch_export")).status_code == 403
    assert desk.post(reverse("admin:refunds_transferbatch_export")).status_code == 403
    assert not TransferBatch.objects.exists()
    manager.post(reverse("admin:refunds_transferbatch_export"), {"execution_date": ""})
    batch = TransferBatch.objects.get()
    assert (
        desk.get(reverse("admin:refunds_transferbatch_download", args=[batch.pk])).status_code
        == 403
    )
    assert (
        desk.post(reverse("admin:refunds_transferbatch_paid", args=[batch.pk])).status_code == 403
    )
    batch.refresh_from_db()
    assert batch.status == TransferBatch.Status.EXPORTED


# --- Vouchers --------------------------------------------------------------------------------------


def test_vouchers_are_searchable_and_read_only(desk):
    voucher = VoucherFactory(email="holder@example.org")
    VoucherFactory()
    url = reverse("admin:refunds_voucher_changelist")
    response = desk.get(url, {"q": "holder@example.org"})
    assert list(response.context["cl"].result_list) == [voucher]
    page = desk.get(reverse("admin:refunds_voucher_change", args=[voucher.pk]))
    assert page.context["adminform"].form.fields == {}
    assert desk.get(reverse("admin:refunds_voucher_add")).status_code == 403


# --- Report ----------------------------------------------------------------------------------------


def test_report_sums_refunds_per_month_channel_and_method(manager, django_assert_max_num_queries):
    tz = timezone.get_current_timezone()
    march = dt.datetime(2031, 3, 10, 12, tzinfo=tz)
    april = dt.datetime(2031, 4, 2, 12, tzinfo=tz)
    RefundFactory(approved_at=march, status=Refund.Status.SUCCEEDED, fee_cents=200)
    RefundFactory(approved_at=march, status=Refund.Status.APPROVED)
    RefundFactory(approved_at=april, method=Refund.Method.CASH, status=Refund.Status.SUCCEEDED)
    RefundFactory(approved_at=april, status=Refund.Status.REFUSED)  # not money: left out
    url = reverse("admin:refunds_refund_report")
    manager.get(url)
    with django_assert_max_num_queries(5):
        response = manager.get(url, {"from": "2031-03", "to": "2031-04"})
    rows = [
        (
            r["month"].date(),
            r["channel"],
            r["method"],
            r["n"],
            r["amount"],
            r["paid_back"],
            r["fee"],
        )
        for r in response.context["rows"]
    ]
    assert rows == [
        (dt.date(2031, 3, 1), "desk", "bank", 2, 5600, 2800, 200),
        (dt.date(2031, 4, 1), "desk", "cash", 1, 2800, 2800, 0),
    ]
    assert response.context["totals"] == {"n": 3, "amount": 8400, "fee": 200, "paid_back": 5600}
    # a period without refunds is empty
    empty = manager.get(url, {"from": "2031-05", "to": "2031-05"})
    assert empty.context["rows"] == []


def test_report_is_for_managers_only(desk):
    assert desk.get(reverse("admin:refunds_refund_report")).status_code == 403


def test_refunds_app_page_links_the_staff_pages_by_permission(manager, desk):
    url = reverse("admin:app_list", kwargs={"app_label": "refunds"})
    report = reverse("admin:refunds_refund_report").encode()
    export = reverse("admin:refunds_transferbatch_export").encode()
    managers = manager.get(url).content
    assert report in managers and export in managers
    desks = desk.get(url)
    assert desks.status_code == 200
    assert report not in desks.content and export not in desks.content
    assert b"?status__exact=requested" in desks.content
