from django.utils import timezone

from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Ticket
from ticketing.services.orders import OrderLine, order_place


def test_web_order_with_a_price_is_held_until_paid(db):
    # given a slot with 20 places and an adult ticket type
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    # when a guest orders two tickets
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.WEB,
        email="A@x.example",
        name="A",
    )
    # then the order waits for payment and holds two seats
    assert order.status == Order.Status.PENDING
    assert order.total_cents == 2800
    assert order.email == "a@x.example"
    assert order.hold_expires_at > timezone.now()
    assert list(order.tickets.values_list("status", flat=True)) == [Ticket.Status.RESERVED] * 2


def test_suite_runs_on_postgresql(db):
    from django.db import connection

    assert connection.vendor == "postgresql"
