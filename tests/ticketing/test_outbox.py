"""The e-mail outbox: stored once per key, sent once, retried after a failure."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from museum import emails
from museum.emails import email_enqueue, email_send, emails_requeue_stale
from museum.models import OutboxEmail
from museum.tasks import retry_stale_emails, send_email
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place, order_resend

pytestmark = pytest.mark.django_db


def _enqueue(key="test:1", to="ana@example.org", language="en"):
    return email_enqueue(
        dedupe_key=key,
        to=to,
        template="ticketing/late_payment_refund",
        context={"order_code": "ABCD2345", "name": "Ana", "order_url": "http://testserver/o/x/"},
        language=language,
    )


def _paid_order(*, language="en", quantity=2) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="Ana@Example.org",
        name="Ana",
        language=language,
    )


def test_enqueuing_twice_with_the_same_key_stores_one_row(django_capture_on_commit_callbacks):
    # when the same e-mail is enqueued twice
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = _enqueue()
        second = _enqueue(to="someone-else@example.org")
    # then one row exists, with the first recipient, and one send task is queued
    assert OutboxEmail.objects.count() == 1
    assert second.pk == first.pk
    assert second.to == "ana@example.org"
    assert first.status == OutboxEmail.Status.QUEUED
    assert "ABCD2345" in first.subject
    assert "ABCD2345" in first.body_text
    assert "ABCD2345" in first.body_html
    assert len(callbacks) == 1


def test_sending_twice_delivers_one_message():
    # given a queued e-mail
    email = _enqueue()
    # when it is sent twice
    assert email_send(email_id=email.pk) is True
    assert email_send(email_id=email.pk) is False
    # then one message went out and the row says sent
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ana@example.org"]
    assert mail.outbox[0].subject == email.subject
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT
    assert email.attempts == 1
    assert email.sent_at is not None


def test_the_send_task_run_twice_delivers_one_message():
    email = _enqueue()
    assert send_email.delay(email.pk).get() is True
    assert send_email.delay(email.pk).get() is False
    assert len(mail.outbox) == 1


def test_the_order_email_carries_the_pdf_in_the_buyers_language(
    django_capture_on_commit_callbacks,
):
    # given a paid order of a French buyer
    with django_capture_on_commit_callbacks(execute=True):
        order = _paid_order(language="fr", quantity=2)
    # then one e-mail was sent, to the buyer, with the order's PDF attached
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.org"]
    assert order.code in message.subject
    assert order.code in message.body
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"tickets-{order.code}.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF-")
    [(html, html_type)] = message.alternatives
    assert html_type == "text/html"
    assert order.code in html
    assert message.subject == f"Vos billets – commande {order.code}"
    stored = OutboxEmail.objects.get()
    assert stored.language == "fr"
    assert stored.status == OutboxEmail.Status.SENT
    assert stored.attachments == [{"kind": "ticketing.order_pdf", "ref": str(order.pk)}]
    # the French e-mail renders the dates with Django's French locale
    starts_at = timezone.localtime(order.tickets.first().time_slot.starts_at)
    from django.utils import formats, translation

    with translation.override("fr"):
        french_day = formats.date_format(starts_at, "D j M Y")
    assert french_day in message.body


def test_a_resend_is_a_second_email_with_its_own_key(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        order = _paid_order()
    with django_capture_on_commit_callbacks(execute=True):
        order_resend(order=order)
    assert len(mail.outbox) == 2
    assert sorted(OutboxEmail.objects.values_list("dedupe_key", flat=True)) == [
        f"ticketing.order_tickets:{order.pk}:0",
        f"ticketing.order_tickets:{order.pk}:1",
    ]


def test_a_failed_send_is_recorded_and_retried_by_the_stale_sweep():
    # given a queued e-mail and a mail provider that fails once
    email = _enqueue()
    with (
        mock.patch(
            "django.core.mail.EmailMultiAlternatives.send", side_effect=ConnectionError("smtp down")
        ),
        pytest.raises(ConnectionError),
    ):
        email_send(email_id=email.pk)
    # then the row is failed with the error and nothing went out
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.FAILED
    assert email.attempts == 1
    assert "smtp down" in email.last_error
    assert len(mail.outbox) == 0
    # when the sweep runs two minutes later
    later = timezone.now() + dt.timedelta(minutes=2)
    assert emails_requeue_stale(now=later) == [email.pk]
    # then sending again succeeds, once
    assert email_send(email_id=email.pk) is True
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT
    assert email.attempts == 2
    assert email.last_error == ""
    assert len(mail.outbox) == 1
    assert emails_requeue_stale(now=later) == []


def test_a_claim_by_a_worker_that_died_is_released_after_ten_minutes():
    # given an e-mail claimed 11 minutes ago by a worker that never finished
    email = _enqueue()
    claimed_at = timezone.now() - dt.timedelta(minutes=11)
    OutboxEmail.objects.filter(pk=email.pk).update(
        status=OutboxEmail.Status.SENDING, claimed_at=claimed_at
    )
    # when the sweep runs, a claim of 5 minutes is kept but this one is released
    assert emails_requeue_stale(now=claimed_at + dt.timedelta(minutes=5)) == []
    assert emails_requeue_stale(now=timezone.now() + dt.timedelta(minutes=2)) == [email.pk]
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.FAILED


def test_the_retry_task_sends_what_failed(settings):
    email = _enqueue()
    OutboxEmail.objects.filter(pk=email.pk).update(
        status=OutboxEmail.Status.FAILED,
        attempts=1,
        created_at=timezone.now() - dt.timedelta(minutes=5),
    )
    assert retry_stale_emails.delay().get() == 1
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT
    assert len(mail.outbox) == 1
    assert retry_stale_emails.delay().get() == 0


def test_an_email_that_failed_ten_times_is_no_longer_retried():
    email = _enqueue()
    OutboxEmail.objects.filter(pk=email.pk).update(status=OutboxEmail.Status.FAILED, attempts=10)
    assert emails_requeue_stale(now=timezone.now() + dt.timedelta(minutes=2)) == []


def test_an_unknown_attachment_kind_fails_the_send_without_sending():
    email = email_enqueue(
        dedupe_key="test:attach",
        to="ana@example.org",
        template="ticketing/late_payment_refund",
        context={"order_code": "X", "name": "Ana", "order_url": "http://testserver/"},
        language="en",
        attachments=[{"kind": "nope", "ref": "1"}],
    )
    assert "nope" not in emails._ATTACHMENT_RENDERERS
    with pytest.raises(KeyError):
        email_send(email_id=email.pk)
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.FAILED
    assert len(mail.outbox) == 0
