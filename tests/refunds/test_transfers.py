"""Bank refunds: exported once into a SEPA file, marked paid once, a bounced one fails alone."""

from __future__ import annotations

import datetime as dt
import importlib.resources
import threading

import pytest
from django.db import connections
from django.utils import timezone
from lxml import etree

from museum.models import AuditEvent, OutboxEmail
from privacy.purge import purge_run
from refunds.models import Refund, TransferBatch
from refunds.sepa import NAMESPACES
from refunds.services.transfers import (
    TransferError,
    transfer_batch_export,
    transfer_batch_mark_paid,
    transfer_batch_reject_transfer,
)
from tests.accounts.factories import UserFactory
from tests.refunds.factories import (
    VALID_IBANS,
    PaidOrderFactory,
    RefundFactory,
    TransferBatchFactory,
)
from ticketing.models import Order

TZ = dt.timezone(dt.timedelta(hours=1))  # Brussels in winter
MONDAY = dt.datetime(2026, 3, 2, 10, 0, tzinfo=TZ)
SATURDAY = dt.datetime(2026, 3, 7, 10, 0, tzinfo=TZ)
NS = {"p": NAMESPACES["03"]}


def _schema() -> etree.XMLSchema:
    path = importlib.resources.files("sepaxml") / "schemas" / "pain.001.001.03.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def _actions(subject) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            subject_type=subject._meta.label_lower, subject_id=str(subject.pk)
        )
        .order_by("pk")
        .values_list("action", flat=True)
    )


@pytest.fixture
def finance():
    return UserFactory(email="finance@museum.example", is_staff=True)


# --- export -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_export_puts_every_due_bank_refund_in_one_valid_file(finance):
    # given two approved bank refunds with bank details, and refunds that are not due
    first = RefundFactory(account_holder="Åsa Öberg", iban=VALID_IBANS["SE"])
    second = RefundFactory(iban=VALID_IBANS["DE"], bic="COBADEFFXXX", amount_cents=1405)
    not_due = [
        RefundFactory(bank_details=False),  # waiting for the buyer's IBAN
        RefundFactory(method=Refund.Method.STRIPE),
        RefundFactory(status=Refund.Status.REQUESTED),
        RefundFactory(status=Refund.Status.FAILED),
        RefundFactory(currency="SEK"),
        RefundFactory(amount_cents=0),
    ]

    # when finance exports on a Monday
    batch = transfer_batch_export(actor=finance, now=MONDAY)

    # then one batch pays exactly the two due refunds, in a file the schema accepts
    assert batch is not None
    assert (batch.status, batch.count, batch.total_cents, batch.currency) == (
        TransferBatch.Status.EXPORTED,
        2,
        first.amount_cents + 1405,
        "EUR",
    )
    assert batch.execution_date == dt.date(2026, 3, 2)
    assert batch.created_by == finance
    document = etree.fromstring(batch.xml.encode("utf-8"))
    assert _schema().validate(document)
    assert document.findtext(".//p:GrpHdr/p:MsgId", namespaces=NS) == batch.message_id
    assert [
        (
            tx.findtext("p:PmtId/p:EndToEndId", namespaces=NS),
            tx.findtext("p:Amt/p:InstdAmt", namespaces=NS),
            tx.findtext("p:Cdtr/p:Nm", namespaces=NS),
            tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
            tx.findtext("p:RmtInf/p:Ustrd", namespaces=NS),
        )
        for tx in document.findall(".//p:CdtTrfTxInf", NS)
    ] == [
        (
            f"R{first.order.code}-{first.pk}",
            f"{first.amount_cents / 100:.2f}",
            "Asa Oberg",
            VALID_IBANS["SE"],
            f"Refund order {first.order.code}",
        ),
        (
            f"R{second.order.code}-{second.pk}",
            "14.05",
            "Ada Lovelace",
            VALID_IBANS["DE"],
            f"Refund order {second.order.code}",
        ),
    ]
    # and the two refunds are sent in this batch, with an audit event each
    for refund in (first, second):
        refund.refresh_from_db()
        assert (refund.status, refund.sent_at, refund.transfer_batch) == (
            Refund.Status.SENT,
            MONDAY,
            batch,
        )
        assert _actions(refund) == ["refund.sent"]
    assert _actions(batch) == ["transfer_batch.exported"]
    # and the others did not move
    for refund in not_due:
        before = refund.status
        refund.refresh_from_db()
        assert (refund.status, refund.transfer_batch_id, refund.sent_at) == (before, None, None)
        assert _actions(refund) == []


@pytest.mark.django_db
def test_export_with_nothing_due_writes_nothing(finance):
    RefundFactory(bank_details=False)

    assert transfer_batch_export(actor=finance, now=MONDAY) is None
    assert TransferBatch.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_exporting_twice_exports_nothing_twice(finance):
    refund = RefundFactory()
    first = transfer_batch_export(actor=finance, now=MONDAY)

    again = transfer_batch_export(actor=finance, now=MONDAY + dt.timedelta(minutes=1))

    assert again is None
    assert TransferBatch.objects.get() == first
    refund.refresh_from_db()
    assert refund.transfer_batch == first
    assert _actions(refund) == ["refund.sent"]


@pytest.mark.django_db
def test_a_refund_approved_later_goes_in_the_next_file(finance):
    earlier = RefundFactory()
    first = transfer_batch_export(actor=finance, now=MONDAY)
    later = RefundFactory()

    second = transfer_batch_export(actor=finance, now=MONDAY + dt.timedelta(hours=1))

    assert second is not None and second != first
    assert list(first.refunds.all()) == [earlier]
    assert list(second.refunds.all()) == [later]
    assert second.message_id != first.message_id


@pytest.mark.django_db
def test_on_a_weekend_the_file_asks_for_monday(finance):
    RefundFactory()

    batch = transfer_batch_export(actor=finance, now=SATURDAY)

    assert batch.execution_date == dt.date(2026, 3, 9)
    document = etree.fromstring(batch.xml.encode("utf-8"))
    assert document.findtext(".//p:ReqdExctnDt", namespaces=NS) == "2026-03-09"


@pytest.mark.django_db
def test_an_execution_date_in_the_past_is_refused_and_nothing_changes(finance):
    refund = RefundFactory()

    with pytest.raises(TransferError, match="cannot be in the past"):
        transfer_batch_export(actor=finance, execution_date=dt.date(2026, 3, 1), now=MONDAY)

    refund.refresh_from_db()
    assert (refund.status, refund.transfer_batch_id) == (Refund.Status.APPROVED, None)
    assert TransferBatch.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_a_holder_name_the_file_cannot_carry_is_left_out_not_blocking_the_others(finance):
    # typed past the form's checks (e.g. an admin edit): Cyrillic has no SEPA form
    odd = RefundFactory(account_holder="Иван Петров")
    fine = RefundFactory()

    batch = transfer_batch_export(actor=finance, now=MONDAY)

    assert list(batch.refunds.all()) == [fine]
    odd.refresh_from_db()
    assert (odd.status, odd.transfer_batch_id) == (Refund.Status.APPROVED, None)
    assert AuditEvent.objects.get(action="transfer_batch.exported").data["left_out"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_exports_at_the_same_moment_put_each_refund_in_one_file_only():
    # given ten due refunds and two finance users clicking "export" at once
    refunds = [RefundFactory() for _ in range(10)]
    barrier = threading.Barrier(2)
    results: list[object] = []
    lock = threading.Lock()

    def export() -> None:
        try:
            barrier.wait(timeout=30)
            outcome = transfer_batch_export(actor=None, now=timezone.now())
            result = outcome.pk if outcome is not None else None
        except Exception as exc:  # anything else is a failure of the test
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=export) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)

    # then one export made the batch with all ten refunds and the other found nothing
    assert sorted(results, key=str) == sorted([TransferBatch.objects.get().pk, None], key=str)
    batch = TransferBatch.objects.get()
    assert batch.count == 10
    assert set(batch.refunds.values_list("pk", flat=True)) == {r.pk for r in refunds}
    assert AuditEvent.objects.filter(action="refund.sent").count() == 10


# --- marking paid ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_marking_a_batch_paid_pays_its_refunds_and_settles_the_orders(finance):
    # given a batch of two refunds; the second order still has another approved refund
    alone = RefundFactory()
    shared_order = PaidOrderFactory(status=Order.Status.REFUND_PENDING)
    in_batch = RefundFactory(order=shared_order, amount_cents=1000)
    batch = transfer_batch_export(actor=finance, now=MONDAY)
    other = RefundFactory(order=shared_order, amount_cents=500, bank_details=False)
    paid_at = MONDAY + dt.timedelta(days=2)

    # when finance marks it paid
    result = transfer_batch_mark_paid(batch=batch, actor=finance, now=paid_at)

    # then the batch is paid, its refunds succeeded
    assert (result.status, result.paid_at, result.paid_by) == (
        TransferBatch.Status.PAID,
        paid_at,
        finance,
    )
    for refund in (alone, in_batch):
        refund.refresh_from_db()
        assert (refund.status, refund.succeeded_at, refund.closed_at) == (
            Refund.Status.SUCCEEDED,
            paid_at,
            paid_at,
        )
        assert _actions(refund) == ["refund.sent", "refund.succeeded"]
    assert _actions(batch) == ["transfer_batch.exported", "transfer_batch.paid"]
    # and only the order with nothing left owed is refunded
    alone.order.refresh_from_db()
    shared_order.refresh_from_db()
    assert alone.order.status == Order.Status.REFUNDED
    assert shared_order.status == Order.Status.REFUND_PENDING
    other.refresh_from_db()
    assert other.status == Refund.Status.APPROVED
    # and each buyer of a paid refund is told, once
    paid_mails = OutboxEmail.objects.filter(dedupe_key__startswith="refunds.paid:")
    assert sorted(paid_mails.values_list("dedupe_key", flat=True)) == sorted(
        [f"refunds.paid:{alone.pk}", f"refunds.paid:{in_batch.pk}"]
    )


@pytest.mark.django_db
def test_marking_a_batch_paid_twice_is_refused_and_changes_nothing(finance):
    refund = RefundFactory()
    batch = transfer_batch_export(actor=finance, now=MONDAY)
    first_paid_at = MONDAY + dt.timedelta(days=1)
    transfer_batch_mark_paid(batch=batch, actor=finance, now=first_paid_at)
    someone_else = UserFactory(is_staff=True)
    events = AuditEvent.objects.count()

    with pytest.raises(TransferError, match="already marked paid"):
        transfer_batch_mark_paid(
            batch=batch, actor=someone_else, now=first_paid_at + dt.timedelta(days=1)
        )

    batch.refresh_from_db()
    refund.refresh_from_db()
    assert (batch.paid_at, batch.paid_by) == (first_paid_at, finance)
    assert refund.succeeded_at == first_paid_at
    assert AuditEvent.objects.count() == events


# --- a transfer sent back ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_transfer_the_bank_sends_back_fails_alone(finance):
    # given a batch of two transfers
    bounced = RefundFactory()
    paid = RefundFactory()
    batch = transfer_batch_export(actor=finance, now=MONDAY)
    bounced_at = MONDAY + dt.timedelta(days=1)

    # when the bank sends one back
    result = transfer_batch_reject_transfer(
        refund=bounced, reason="  AC04  account   closed ", actor=finance, now=bounced_at
    )

    # then that refund failed with the bank's reason, still pointing at its file
    assert (result.status, result.failed_at, result.failure, result.transfer_batch) == (
        Refund.Status.FAILED,
        bounced_at,
        "AC04 account closed",
        batch,
    )
    assert _actions(bounced) == ["refund.sent", "refund.failed"]
    event = AuditEvent.objects.get(action="refund.failed")
    assert event.data["transfer_batch"] == batch.message_id
    assert event.actor == finance

    # and marking the batch paid pays the other one only; the order stays to be refunded
    transfer_batch_mark_paid(batch=batch, actor=finance, now=bounced_at)
    bounced.refresh_from_db()
    paid.refresh_from_db()
    assert (bounced.status, paid.status) == (Refund.Status.FAILED, Refund.Status.SUCCEEDED)
    bounced.order.refresh_from_db()
    assert bounced.order.status == Order.Status.REFUND_PENDING


@pytest.mark.django_db
@pytest.mark.parametrize(
    "refund_kwargs",
    [
        {"status": Refund.Status.APPROVED},  # not in a file yet
        {"status": Refund.Status.SUCCEEDED},
        {"status": Refund.Status.SENT, "method": Refund.Method.STRIPE},
    ],
)
def test_only_a_sent_bank_transfer_can_be_sent_back(finance, refund_kwargs):
    refund = RefundFactory(**refund_kwargs)
    if refund_kwargs["status"] != Refund.Status.APPROVED:
        refund.transfer_batch = TransferBatchFactory()
        refund.save()

    with pytest.raises(TransferError, match="Only a bank transfer sent in a file"):
        transfer_batch_reject_transfer(refund=refund, reason="AC04", actor=finance, now=MONDAY)

    before = refund.status
    refund.refresh_from_db()
    assert (refund.status, refund.failure, refund.failed_at) == (before, "", None)
    assert AuditEvent.objects.filter(action="refund.failed").count() == 0


@pytest.mark.django_db
def test_sending_back_needs_a_reason(finance):
    refund = RefundFactory()
    transfer_batch_export(actor=finance, now=MONDAY)

    with pytest.raises(TransferError) as caught:
        transfer_batch_reject_transfer(refund=refund, reason="   ", actor=finance, now=MONDAY)

    assert caught.value.field == "reason"
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SENT


# --- retention: bank details and files are blanked a margin after payment -------------------


@pytest.mark.django_db
def test_bank_details_and_the_file_are_blanked_a_margin_after_the_payment(finance):
    # given a paid batch of two transfers, one of which the bank sent back
    paid = RefundFactory(account_holder="Ada Lovelace", iban=VALID_IBANS["FR"])
    bounced = RefundFactory(iban=VALID_IBANS["NL"])
    batch = transfer_batch_export(actor=finance, now=MONDAY)
    transfer_batch_reject_transfer(refund=bounced, reason="AC04", actor=finance, now=MONDAY)
    paid_at = MONDAY + dt.timedelta(days=2)
    transfer_batch_mark_paid(batch=batch, actor=finance, now=paid_at)
    margin = dt.timedelta(days=30)  # REFUNDS_BANK_DETAILS_MARGIN_DAYS

    # when the purge runs a second before the margin is over, nothing is blanked
    early = purge_run(
        as_of=paid_at + margin - dt.timedelta(seconds=1), only_rule="until_refund_paid"
    )
    assert early.report["refunds.refund:bank_details"]["anonymised"] == 0
    assert early.report["refunds.transferbatch"]["anonymised"] == 0

    # when it runs once the margin is over
    run = purge_run(as_of=paid_at + margin, only_rule="until_refund_paid")

    # then the paid refund's details and the file's XML are blanked, the totals stay
    assert run.report["refunds.refund:bank_details"]["anonymised"] == 1
    assert run.report["refunds.transferbatch"]["anonymised"] == 1
    paid.refresh_from_db()
    assert (paid.account_holder, paid.iban, paid.bic) == ("", "", "")
    assert paid.bank_details_erased_at is not None
    assert (paid.status, paid.amount_cents) == (Refund.Status.SUCCEEDED, 2800)
    batch.refresh_from_db()
    assert (batch.xml, batch.count, batch.total_cents) == ("", 2, 5600)
    # and the bounced refund keeps its details: the buyer may correct them for a retry
    bounced.refresh_from_db()
    assert (bounced.account_holder, bounced.iban) == ("Ada Lovelace", VALID_IBANS["NL"])

    # and a second run finds nothing more to do, and keeps the moment of the erasure
    erased_at = paid.bank_details_erased_at
    again = purge_run(as_of=paid_at + margin + dt.timedelta(days=1), only_rule="until_refund_paid")
    assert again.report["refunds.refund:bank_details"]["anonymised"] == 0
    paid.refresh_from_db()
    assert paid.bank_details_erased_at == erased_at


@pytest.mark.django_db
def test_an_unpaid_file_keeps_its_xml(finance):
    RefundFactory()
    batch = transfer_batch_export(actor=finance, now=MONDAY)

    run = purge_run(as_of=MONDAY + dt.timedelta(days=400), only_rule="until_refund_paid")

    assert run.report["refunds.transferbatch"]["anonymised"] == 0
    batch.refresh_from_db()
    assert batch.xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')


@pytest.mark.django_db
def test_no_file_without_the_museums_own_account(finance, settings):
    # given a refund due, and no debtor account configured (production without it)
    refund = RefundFactory()
    settings.REFUNDS_DEBTOR_IBAN = ""
    # when finance exports
    with pytest.raises(TransferError) as caught:
        transfer_batch_export(actor=finance, now=MONDAY)
    # then it says what to set, and nothing changed
    assert "REFUNDS_DEBTOR_IBAN" in str(caught.value.message)
    assert not TransferBatch.objects.exists()
    refund.refresh_from_db()
    assert refund.status == Refund.Status.APPROVED
