"""The tickets e-mail is stored with the order and rendered when it is sent."""

from __future__ import annotations

import pytest
from django.core import mail

from museum.emails import email_enqueue_deferred, email_send
from museum.models import OutboxEmail
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Ticket
from ticketing.services.orders import OrderLine, order_place, order_send_tickets

pytestmark = pytest.mark.django_db


def _paid_order(*, language="en", quantity=2) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="Ana@Example.org",
        name="Ana",
        language=language,
    )


def test_placing_an_order_stores_the_email_unrendered_in_its_transaction(
    django_capture_on_commit_callbacks,
):
    # when an order is placed (its send task not run)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = _paid_order()
    # then its e-mail is stored, queued, with a reference instead of a rendered body
    email = OutboxEmail.objects.get()
    assert email.dedupe_key == f"ticketing.order_tickets:{order.pk}:0"
    assert email.to == "ana@example.org"
    assert email.status == OutboxEmail.Status.QUEUED
    assert email.template == "ticketing/order_tickets"
    assert email.context_ref == {
        "kind": "ticketing.order_tickets",
        "ref": order.pk,
        "tickets": list(order.tickets.order_by("pk").values_list("pk", flat=True)),
    }
    assert (email.subject, email.body_text, email.body_html) == ("", "", "")
    assert email.attachments == [{"kind": "ticketing.order_pdf", "ref": str(order.pk)}]
    # and the admin's list names the template until it is sent
    assert str(email) == "ticketing/order_tickets, rendered when sent → ana@example.org (queued)"
    assert len(callbacks) == 1
    assert len(mail.outbox) == 0


def test_sending_renders_in_the_buyers_language_and_keeps_what_was_sent():
    # given a French buyer's order, its e-mail not sent yet
    order = _paid_order(language="fr")
    email = OutboxEmail.objects.get()
    # when it is sent twice
    assert email_send(email_id=email.pk) is True
    assert email_send(email_id=email.pk) is False
    # then one French message went out, with both tickets and the PDF
    [message] = mail.outbox
    assert message.subject == f"Vos billets – commande {order.code}"
    assert message.body.count("Adult ·") == 2
    [(html, _type)] = message.alternatives
    assert order.code in html
    [(filename, content, _mimetype)] = message.attachments
    assert filename == f"tickets-{order.code}.pdf" and content.startswith(b"%PDF-")
    # and the row keeps exactly what was sent
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT
    assert email.attempts == 1
    assert email.subject == message.subject
    assert email.body_text == message.body
    assert email.body_html == html
    assert str(email).startswith(f"Vos billets – commande {order.code} → ")


def test_the_email_lists_only_the_tickets_it_was_queued_for():
    # given an order of two tickets, then one more ticket e-mailed on its own (a rebooking)
    order = _paid_order(quantity=2)
    first, _second = order.tickets.order_by("pk")
    order_send_tickets(order=order, resend_number=1, tickets=[first])
    email = OutboxEmail.objects.get(dedupe_key=f"ticketing.order_tickets:{order.pk}:1")
    # when it is sent, then it lists that ticket only
    assert email_send(email_id=email.pk) is True
    [message] = mail.outbox
    assert message.body.count("Adult ·") == 1


def test_without_tickets_the_email_lists_the_order_as_it_is_when_sent():
    # given a resend queued without a list, then a ticket added before it is sent
    order = _paid_order(quantity=1)
    order_send_tickets(order=order, resend_number=1)
    ticket = order.tickets.get()
    Ticket.objects.create(
        order=order,
        time_slot=ticket.time_slot,
        ticket_type=ticket.ticket_type,
        seats=1,
        price_cents=ticket.price_cents,
        vat_rate=ticket.vat_rate,
        status=Ticket.Status.VALID,
    )
    email = OutboxEmail.objects.get(dedupe_key=f"ticketing.order_tickets:{order.pk}:1")
    assert email_send(email_id=email.pk) is True
    assert mail.outbox[0].body.count("Adult ·") == 2


def test_enqueuing_the_same_key_twice_keeps_the_first_row(django_capture_on_commit_callbacks):
    order = _paid_order()
    first = OutboxEmail.objects.get()
    # when the same key is queued again, for another address
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        again = email_enqueue_deferred(
            dedupe_key=first.dedupe_key,
            to="someone-else@example.org",
            template="ticketing/order_tickets",
            context_ref={"kind": "ticketing.order_tickets", "ref": order.pk},
            language="en",
        )
    # then the stored row comes back unchanged and no second send is queued
    assert again.pk == first.pk
    assert again.to == "ana@example.org"
    assert OutboxEmail.objects.count() == 1
    assert callbacks == []


def test_an_unregistered_kind_is_refused_when_queued():
    with pytest.raises(KeyError):
        email_enqueue_deferred(
            dedupe_key="test:nope",
            to="ana@example.org",
            template="ticketing/order_tickets",
            context_ref={"kind": "nope", "ref": 1},
            language="en",
        )
    assert not OutboxEmail.objects.filter(dedupe_key="test:nope").exists()


def test_an_email_whose_order_is_gone_fails_without_sending():
    # given a queued e-mail whose order no longer exists
    order = _paid_order()
    email = OutboxEmail.objects.get()
    Ticket.objects.filter(order=order).delete()
    Order.objects.filter(pk=order.pk).delete()
    # when it is sent, then the failure is recorded and nothing went out
    with pytest.raises(Order.DoesNotExist):
        email_send(email_id=email.pk)
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.FAILED
    assert email.attempts == 1
    assert "DoesNotExist" in email.last_error
    assert (email.subject, email.body_text) == ("", "")
    assert len(mail.outbox) == 0
