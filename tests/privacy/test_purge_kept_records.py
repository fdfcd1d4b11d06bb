"""The purge and the records kept for a legal reason: once their legal period is over,
their retention rule's end action applies (they are deleted), with legal holds still
applied; before it, they stay."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from museum.models import AuditEvent
from privacy.models import ProcessingRestriction, PurgeRun, SubjectRequest, SubjectRequestEvent
from privacy.purge import purge_run
from privacy.registry import registry
from refunds.models import Refund
from tests.privacy.test_purge import _order, at
from ticketing.models import Order, Payment

pytestmark = pytest.mark.django_db

PAYMENTS = "ticketing.payment"
AUDIT = "museum.auditevent"
REQUESTS = "privacy.subjectrequest"
OPEN_REQUEST = "An open request of the person about their data"
STILL_NEEDED = "Still needed by other records that are kept"


def _payment(order: Order, *, when: dt.datetime) -> Payment:
    payment = Payment.objects.create(
        order=order,
        provider="stripe",
        reference=f"pi_{uuid.uuid4().hex}",
        amount_cents=1400,
        currency="EUR",
        status=Payment.Status.SUCCEEDED,
    )
    Payment.objects.filter(pk=payment.pk).update(created_at=when)
    return payment


def _audit(*, when: dt.datetime, email: str = "", action: str = "order.paid") -> AuditEvent:
    return AuditEvent.objects.create(
        occurred_at=when,
        action=action,
        subject_type="ticketing.order",
        subject_id="1",
        data={"email": email} if email else {},
    )


def test_every_kept_declaration_with_a_clock_ends_by_deleting():
    # the premise of these tests: what the declarations state for the end of retention
    kept = [
        d
        for d in registry.declarations
        if d.erasure.kind == "keep" and d.retention.kind not in ("follows", "while_account_exists")
    ]
    assert {d.key for d in kept} >= {PAYMENTS, AUDIT, REQUESTS, "privacy.purgerun"}
    assert {str(d.retention.then) for d in kept} == {"delete"}


def test_payment_is_deleted_on_1_january_eight_years_after_its_year_not_before():
    # given a payment of the last evening of 2018 and one just after midnight in 2019
    december = _payment(
        _order(email="a@example.org", when=at(2018, 12, 31)), when=at(2018, 12, 31, 23, 30)
    )
    january = _payment(
        _order(email="b@example.org", when=at(2019, 1, 1)), when=at(2019, 1, 1, 0, 30)
    )
    # when the purge runs one minute before 2026, nothing is due
    eve = purge_run(as_of=at(2025, 12, 31, 23, 59), only_rule=PAYMENTS)
    assert eve.report[PAYMENTS]["deleted"] == 0
    assert Payment.objects.count() == 2
    # when it runs at midnight on 1 January 2026 (7 years after the end of 2018)
    run = purge_run(as_of=at(2026, 1, 1, 0, 0), only_rule=PAYMENTS)
    # then only the 2018 payment is gone, the order stays, and nothing is reported kept
    assert run.report[PAYMENTS]["deleted"] == 1
    assert run.report[PAYMENTS]["held"] == {}
    assert "kept" not in run.report[PAYMENTS]
    assert list(Payment.objects.values_list("pk", flat=True)) == [january.pk]
    assert Order.objects.filter(pk=december.order_id).exists()


def test_a_payment_an_open_subject_request_concerns_is_held():
    # given an old payment whose buyer has an open request
    payment = _payment(_order(email="ada@example.org", when=at(2017, 3, 1)), when=at(2017, 3, 1))
    SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.ACCESS, email="ADA@example.org", status=SubjectRequest.Status.OPEN
    )
    # when the purge runs long after the legal period
    run = purge_run(as_of=at(2026, 6, 1), only_rule=PAYMENTS)
    # then the payment waits for the answer, and says why
    assert run.report[PAYMENTS]["deleted"] == 0
    assert run.report[PAYMENTS]["held"] == {OPEN_REQUEST: 1}
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_a_payment_a_refund_still_points_to_stays_and_the_others_go():
    # given two old payments, one of them with a refund (which protects its payment)
    refunded_order = _order(email="a@example.org", when=at(2017, 3, 1))
    refunded = _payment(refunded_order, when=at(2017, 3, 1))
    other = _payment(_order(email="b@example.org", when=at(2017, 3, 1)), when=at(2017, 3, 1))
    Refund.objects.create(
        order=refunded_order,
        payment=refunded,
        origin=Refund.Origin.REQUEST,
        status=Refund.Status.REQUESTED,
        method=Refund.Method.STRIPE,
        paid_cents=1400,
        amount_cents=1400,
    )
    # when the purge runs, in batches that hold both
    run = purge_run(as_of=at(2026, 6, 1), only_rule=PAYMENTS)
    # then the free one is deleted, the other stays and is reported, and the run finished
    assert run.status == PurgeRun.Status.DONE
    assert run.report[PAYMENTS]["deleted"] == 1
    assert run.report[PAYMENTS]["held"] == {STILL_NEEDED: 1}
    assert list(Payment.objects.values_list("pk", flat=True)) == [refunded.pk]
    assert not Payment.objects.filter(pk=other.pk).exists()


def test_audit_events_go_after_five_years_and_staff_sign_ins_after_365_days():
    # given audit events of 2020 and 2021, and staff sign-ins a year apart
    old = _audit(when=at(2020, 12, 31, 23, 30))
    recent = _audit(when=at(2021, 1, 1, 0, 30))
    sign_in_old = _audit(when=at(2025, 1, 1, 23, 0), action="staff.sign_in")
    sign_in_recent = _audit(when=at(2025, 1, 2, 0, 30), action="staff.sign_in")
    # when the purge runs on 1 January 2026 at midnight (366 days after 1 January 2025)
    run = purge_run(as_of=at(2026, 1, 2, 0, 0))
    # then the 2020 event and the first sign-in are gone
    assert run.report[AUDIT]["deleted"] == 1
    assert run.report["museum.auditevent:staff_sign_in"]["deleted"] == 1
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {
        recent.pk,
        sign_in_recent.pk,
    }
    assert old.pk not in set(AuditEvent.objects.values_list("pk", flat=True))
    assert sign_in_old.pk not in set(AuditEvent.objects.values_list("pk", flat=True))


def test_an_audit_event_naming_a_person_with_an_open_request_is_held():
    # given two old audit events, one naming (in its data) a person with an open request
    named = _audit(when=at(2019, 5, 1), email="Ada@Example.org")
    _audit(when=at(2019, 5, 1), email="bob@example.org")
    SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.ERASURE, email="ada@example.org", status=SubjectRequest.Status.OPEN
    )
    # when the purge runs
    run = purge_run(as_of=at(2026, 6, 1), only_rule=AUDIT)
    # then only Bob's is deleted; Ada's is held with the reason
    assert run.report[AUDIT]["deleted"] == 1
    assert run.report[AUDIT]["held"] == {OPEN_REQUEST: 1}
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [named.pk]


def test_an_answered_request_goes_with_its_events_an_open_one_stays():
    # given two requests of 2019: one closed, one still open
    closed = SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.ACCESS, email="a@example.org", status=SubjectRequest.Status.DONE
    )
    still_open = SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.ACCESS, email="b@example.org", status=SubjectRequest.Status.OPEN
    )
    SubjectRequest.objects.update(created_at=at(2019, 5, 1))
    SubjectRequest.objects.filter(pk=closed.pk).update(closed_at=at(2019, 6, 1))
    SubjectRequestEvent.objects.create(request=closed, action="created", at=at(2019, 5, 1))
    # when the purge runs in 2026 (5 years after the end of 2019, the year it was closed)
    run = purge_run(as_of=at(2026, 6, 1), only_rule=REQUESTS)
    # then the answered one is deleted with its trail; the open one, never closed, is not due
    assert run.report[REQUESTS]["deleted"] == 1
    assert run.report[REQUESTS]["held"] in ({}, {OPEN_REQUEST: 1})
    assert list(SubjectRequest.objects.values_list("pk", flat=True)) == [still_open.pk]
    assert not SubjectRequestEvent.objects.filter(request_id=closed.pk).exists()


def test_old_purge_runs_go_but_the_running_one_never_deletes_itself():
    # given the record of a purge of 2019
    old = PurgeRun.objects.create(
        started_at=at(2019, 5, 1), as_of=at(2019, 5, 1), status=PurgeRun.Status.DONE
    )
    # when a purge runs "as of" a day far past every record, its own included
    run = purge_run(as_of=timezone.now() + dt.timedelta(days=365 * 7), only_rule="privacy.purgerun")
    # then the old record is gone, its own stays and is complete
    assert run.report["privacy.purgerun"]["deleted"] == 1
    assert list(PurgeRun.objects.values_list("pk", flat=True)) == [run.pk]
    assert PurgeRun.objects.get(pk=run.pk).status == PurgeRun.Status.DONE
    assert not PurgeRun.objects.filter(pk=old.pk).exists()


def test_a_dry_run_counts_the_kept_records_due_and_deletes_nothing():
    _payment(_order(email="a@example.org", when=at(2017, 3, 1)), when=at(2017, 3, 1))
    _audit(when=at(2019, 5, 1))
    run = purge_run(as_of=at(2026, 6, 1), dry_run=True)
    assert run.report[PAYMENTS]["deleted"] == 1
    assert run.report[AUDIT]["deleted"] == 1
    assert Payment.objects.count() == 1
    assert AuditEvent.objects.count() == 1


def test_before_their_period_ends_kept_records_stay_untouched():
    payment = _payment(_order(email="a@example.org", when=at(2024, 3, 1)), when=at(2024, 3, 1))
    event = _audit(when=at(2024, 3, 1))
    restriction = ProcessingRestriction.objects.create(email="a@example.org", kind="restriction")
    run = purge_run(as_of=at(2026, 6, 1))
    assert run.report[PAYMENTS]["deleted"] == 0
    assert run.report[AUDIT]["deleted"] == 0
    assert Payment.objects.filter(pk=payment.pk).exists()
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert ProcessingRestriction.objects.filter(pk=restriction.pk).exists()


def test_a_restriction_in_force_is_never_purged_a_lifted_one_after_five_years():
    # given a restriction of 2018 still in force and an objection lifted in 2019
    rule = "privacy.processingrestriction"
    in_force = ProcessingRestriction.objects.create(email="a@example.org", kind="restriction")
    lifted = ProcessingRestriction.objects.create(email="b@example.org", kind="marketing")
    ProcessingRestriction.objects.update(created_at=at(2018, 3, 1))
    ProcessingRestriction.objects.filter(pk=lifted.pk).update(lifted_at=at(2019, 4, 1))
    # when the purge runs in 2026
    run = purge_run(as_of=at(2026, 6, 1), only_rule=rule)
    # then only the lifted one, five years after the end of 2019, is gone
    assert run.report[rule]["deleted"] == 1
    assert list(ProcessingRestriction.objects.values_list("pk", flat=True)) == [in_force.pk]
