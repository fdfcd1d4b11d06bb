"""Placing orders: who gets tickets at once, which orders are refused, and capacity rules."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import User
from museum.models import AuditEvent, Closure, OutboxEmail
from tests.ticketing.factories import (
    ExhibitionFactory,
    ResellerFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.errors import (
    DailyCapReached,
    InvalidQuantity,
    InvalidTicketType,
    SlotNotOnSale,
    SoldOut,
    TicketingError,
)
from ticketing.models import Order, ResellerAllocation, Ticket, TicketType
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db


def _web(slot, ticket_type, quantity, **kwargs):
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.WEB,
        email="buyer@example.org",
        name="Buyer",
        **kwargs,
    )


def _assert_nothing_written():
    assert Order.objects.count() == 0
    assert Ticket.objects.count() == 0
    assert AuditEvent.objects.count() == 0
    assert OutboxEmail.objects.count() == 0


# --- orders that are issued at once ------------------------------------------------------


def test_web_order_with_a_price_is_held_until_paid():
    # given a slot with 20 places and an adult ticket type at 14 euros
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    now = timezone.now()
    # when a guest orders two tickets
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.WEB,
        email=" A@X.example ",
        name=" A ",
        now=now,
    )
    # then the order waits for payment, holds two seats for 15 minutes and sends nothing
    assert order.status == Order.Status.PENDING
    assert order.total_cents == 2800
    assert order.email == "a@x.example"
    assert order.name == "A"
    assert order.hold_expires_at == now + dt.timedelta(minutes=15)
    assert order.payment_method == ""
    assert list(order.tickets.values_list("status", flat=True)) == [Ticket.Status.RESERVED] * 2
    assert OutboxEmail.objects.count() == 0
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["order.placed"]


def test_free_order_is_issued_at_once_without_payment(django_capture_on_commit_callbacks):
    # given a free ticket type
    slot = TimeSlotFactory(capacity=20)
    free = TicketTypeFactory(site=slot.site, kind=TicketType.Kind.FREE, name="Free", price_cents=0)
    # when a guest orders three free tickets
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        order = _web(slot, free, 3)
    # then the order is paid with no payment, tickets are valid and e-mailed after commit
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.total_cents == 0
    assert order.payment_method == Order.PaymentMethod.NONE
    assert order.hold_expires_at is None
    assert order.paid_at is not None
    assert order.payments.count() == 0
    assert list(order.tickets.values_list("status", flat=True)) == [Ticket.Status.VALID] * 3
    email = OutboxEmail.objects.get()
    assert email.to == "buyer@example.org"
    assert email.dedupe_key == f"ticketing.order_tickets:{order.pk}:0"
    assert len(callbacks) == 1
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "order.paid",
        "order.placed",
    ]


def test_desk_sale_is_issued_at_once_and_records_the_seller():
    # given a cashier at the front desk
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    cashier = User.objects.create_user("desk@museum.example")
    # when the cashier sells two tickets paid in cash
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        created_by=cashier,
        payment_method=Order.PaymentMethod.CASH,
    )
    # then the order is paid at once in cash and nobody is e-mailed (no address)
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.payment_method == Order.PaymentMethod.CASH
    assert order.created_by == cashier
    assert order.hold_expires_at is None
    assert list(order.tickets.values_list("status", flat=True)) == [Ticket.Status.VALID] * 2
    assert OutboxEmail.objects.count() == 0
    placed = AuditEvent.objects.get(action="order.placed")
    assert placed.actor == cashier


def test_reseller_order_is_issued_at_once_and_invoiced():
    # given a reseller
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    reseller = ResellerFactory()
    # when it orders four tickets for its customer
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 4)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        reseller_reference="R-1",
        payment_method=Order.PaymentMethod.INVOICE,
        email="customer@example.org",
    )
    # then the tickets are valid at once and the order is on the reseller's invoice
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.payment_method == Order.PaymentMethod.INVOICE
    assert order.reseller == reseller
    assert order.reseller_reference == "R-1"
    assert order.total_cents == 5600
    assert order.tickets.filter(status=Ticket.Status.VALID).count() == 4
    assert AuditEvent.objects.get(action="order.placed").actor_label == reseller.name


def test_a_ticket_type_admitting_several_people_takes_that_many_seats():
    # given a slot of 10 and a family ticket admitting 4
    slot = TimeSlotFactory(capacity=10)
    family = TicketTypeFactory(site=slot.site, kind=TicketType.Kind.GROUP, admits=4)
    # when two family tickets are bought
    _web(slot, family, 2)
    # then 8 seats are taken and a third family ticket no longer fits
    with pytest.raises(SoldOut):
        _web(slot, family, 1)
    assert Ticket.objects.count() == 2
    assert sum(Ticket.objects.values_list("seats", flat=True)) == 8


# --- quantities ---------------------------------------------------------------------------


def test_more_than_max_per_order_of_a_type_is_refused():
    # given a type limited to 4 per order
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, max_per_order=4)
    # when 5 are ordered, split over two lines of the same type
    with pytest.raises(InvalidQuantity) as excinfo:
        order_place(
            lines=[OrderLine(slot.pk, adult.pk, 3), OrderLine(slot.pk, adult.pk, 2)],
            channel=Order.Channel.WEB,
            email="b@example.org",
        )
    # then the order is refused with the limit in the message and nothing is written
    assert "At most 4" in str(excinfo.value.message)
    _assert_nothing_written()


def test_exactly_max_per_order_is_accepted():
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, max_per_order=4)
    order = _web(slot, adult, 4)
    assert order.tickets.count() == 4


@pytest.mark.parametrize("quantities", [[0], [-1], [2, -1], [0, 0], []])
def test_zero_negative_or_no_quantities_are_refused(quantities):
    # given a slot and two types
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    child = TicketTypeFactory(site=slot.site, kind=TicketType.Kind.CHILD, price_cents=500)
    types = [adult, child]
    # when the lines carry no positive quantity or a negative one
    lines = [OrderLine(slot.pk, types[i].pk, q) for i, q in enumerate(quantities)]
    with pytest.raises(InvalidQuantity):
        order_place(lines=lines, channel=Order.Channel.WEB, email="b@example.org")
    # then nothing is written
    _assert_nothing_written()


def test_a_ticket_type_of_another_site_is_refused():
    # given a slot at site A and a ticket type of site B
    slot = TimeSlotFactory(capacity=20)
    other_site_type = TicketTypeFactory(site=SiteFactory())
    # when it is ordered for the slot
    with pytest.raises(InvalidTicketType):
        _web(slot, other_site_type, 1)
    # then nothing is written
    _assert_nothing_written()


def test_a_ticket_type_of_another_exhibition_is_refused():
    # given two exhibitions of one site and a type valid only for the second
    slot = TimeSlotFactory(capacity=20)
    other = ExhibitionFactory(site=slot.site)
    other_type = TicketTypeFactory(site=slot.site, exhibition=other)
    # when it is ordered for a slot of the first
    with pytest.raises(InvalidTicketType):
        _web(slot, other_type, 1)
    # then nothing is written
    _assert_nothing_written()


def test_a_ticket_type_of_the_same_exhibition_or_site_wide_is_accepted():
    slot = TimeSlotFactory(capacity=20)
    own = TicketTypeFactory(site=slot.site, exhibition=slot.exhibition, name="Own")
    wide = TicketTypeFactory(site=slot.site, name="Site-wide")
    order = order_place(
        lines=[OrderLine(slot.pk, own.pk, 1), OrderLine(slot.pk, wide.pk, 1)],
        channel=Order.Channel.WEB,
        email="b@example.org",
    )
    assert sorted(order.tickets.values_list("ticket_type__name", flat=True)) == [
        "Own",
        "Site-wide",
    ]


def test_an_inactive_ticket_type_is_refused():
    slot = TimeSlotFactory(capacity=20)
    retired = TicketTypeFactory(site=slot.site, is_active=False)
    with pytest.raises(InvalidTicketType):
        _web(slot, retired, 1)
    _assert_nothing_written()


def test_slots_of_two_sites_in_one_order_are_refused():
    slot = TimeSlotFactory(capacity=20)
    other_slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    with pytest.raises(TicketingError):
        order_place(
            lines=[OrderLine(slot.pk, adult.pk, 1), OrderLine(other_slot.pk, adult.pk, 1)],
            channel=Order.Channel.WEB,
            email="b@example.org",
        )
    _assert_nothing_written()


# --- slots not on sale -----------------------------------------------------------------


def test_a_past_slot_is_refused():
    # given a slot that ended yesterday
    start = tomorrow_at(10) - dt.timedelta(days=2)
    slot = TimeSlotFactory(capacity=20, starts_at=start)
    adult = TicketTypeFactory(site=slot.site)
    # when it is ordered
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1)
    # then nothing is written
    _assert_nothing_written()


def test_a_slot_is_refused_once_it_has_ended_but_sold_while_it_runs():
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1, now=slot.ends_at)
    _assert_nothing_written()
    order = _web(slot, adult, 1, now=slot.starts_at + dt.timedelta(minutes=5))
    assert order.tickets.count() == 1


def test_a_cancelled_slot_is_refused():
    slot = TimeSlotFactory(capacity=20, is_cancelled=True)
    adult = TicketTypeFactory(site=slot.site)
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1)
    _assert_nothing_written()


def test_a_closure_day_is_refused_with_its_reason():
    # given the site closes for the day of the slot
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    day = timezone.localtime(slot.starts_at).date()
    Closure.objects.create(site=slot.site, starts_on=day, ends_on=day, reason="Strike")
    # when the slot is ordered
    with pytest.raises(SlotNotOnSale) as excinfo:
        _web(slot, adult, 1)
    # then the reason is given and nothing is written
    assert "Strike" in str(excinfo.value.message)
    _assert_nothing_written()


def test_a_closure_of_another_site_does_not_refuse():
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    day = timezone.localtime(slot.starts_at).date()
    Closure.objects.create(site=SiteFactory(), starts_on=day, ends_on=day, reason="Works")
    assert _web(slot, adult, 1).tickets.count() == 1


def test_an_exhibition_not_running_on_the_day_is_refused():
    # given a temporary exhibition that opens the day after the slot
    day = timezone.localdate() + dt.timedelta(days=1)
    exhibition = ExhibitionFactory(
        starts_on=day + dt.timedelta(days=1), ends_on=day + dt.timedelta(days=30)
    )
    slot = TimeSlotFactory(exhibition=exhibition, capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    # when the slot is ordered
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1)
    # then nothing is written
    _assert_nothing_written()


def test_an_exhibition_that_closed_before_the_day_is_refused():
    day = timezone.localdate() + dt.timedelta(days=1)
    exhibition = ExhibitionFactory(starts_on=day - dt.timedelta(days=30), ends_on=day)
    slot = TimeSlotFactory(exhibition=exhibition, capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    assert _web(slot, adult, 1).tickets.count() == 1  # the last day still runs
    exhibition.ends_on = day - dt.timedelta(days=1)
    exhibition.save()
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1)
    assert Order.objects.count() == 1


def test_an_exhibition_off_sale_is_refused():
    slot = TimeSlotFactory(capacity=20, exhibition__is_active=False)
    adult = TicketTypeFactory(site=slot.site)
    with pytest.raises(SlotNotOnSale):
        _web(slot, adult, 1)
    _assert_nothing_written()


def test_an_unknown_slot_is_refused():
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    with pytest.raises(SlotNotOnSale):
        order_place(
            lines=[OrderLine(slot.pk + 1000, adult.pk, 1)],
            channel=Order.Channel.WEB,
            email="b@example.org",
        )
    _assert_nothing_written()


# --- capacity -------------------------------------------------------------------------------


def test_the_last_seats_are_sold_and_one_more_is_refused():
    # given a slot of 5 with 3 sold
    slot = TimeSlotFactory(capacity=5)
    adult = TicketTypeFactory(site=slot.site)
    _web(slot, adult, 3)
    # when 3 more are asked
    with pytest.raises(SoldOut) as excinfo:
        _web(slot, adult, 3)
    # then the answer says 2 are left, and 2 can still be bought
    assert "Only 2 places" in str(excinfo.value.message)
    assert Ticket.objects.count() == 3
    _web(slot, adult, 2)
    assert Ticket.objects.count() == 5


def test_daily_cap_counts_seats_across_the_slots_of_a_day():
    # given a site with a daily cap of 5 and two slots of 10 on the same day
    site = SiteFactory(daily_capacity=5)
    exhibition = ExhibitionFactory(site=site)
    morning = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(10))
    afternoon = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(14))
    adult = TicketTypeFactory(site=site)
    _web(morning, adult, 3)
    # when 3 more are ordered in the afternoon slot
    with pytest.raises(DailyCapReached):
        _web(afternoon, adult, 3)
    # then nothing more is written, and the 2 left of the day can be bought
    assert Order.objects.count() == 1
    assert Ticket.objects.count() == 3
    _web(afternoon, adult, 2)
    assert Ticket.objects.count() == 5


def test_daily_cap_does_not_count_another_day():
    site = SiteFactory(daily_capacity=5)
    exhibition = ExhibitionFactory(site=site)
    day1 = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(10))
    day2 = TimeSlotFactory(
        exhibition=exhibition, capacity=10, starts_at=tomorrow_at(10) + dt.timedelta(days=1)
    )
    adult = TicketTypeFactory(site=site)
    _web(day1, adult, 5)
    assert _web(day2, adult, 5).tickets.count() == 5


def test_reseller_allocation_keeps_seats_from_the_public_but_not_from_that_reseller():
    # given a slot of 10 with 4 seats allocated to reseller R
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    reseller = ResellerFactory()
    other_reseller = ResellerFactory()
    ResellerAllocation.objects.create(reseller=reseller, time_slot=slot, seats=4)
    # when the public buys the 6 public seats
    _web(slot, adult, 6)
    # then the public, and another reseller, cannot buy a 7th
    with pytest.raises(SoldOut):
        _web(slot, adult, 1)
    with pytest.raises(SoldOut):
        order_place(
            lines=[OrderLine(slot.pk, adult.pk, 1)],
            channel=Order.Channel.RESELLER,
            reseller=other_reseller,
            payment_method=Order.PaymentMethod.INVOICE,
        )
    assert Ticket.objects.count() == 6
    # and reseller R sells its 4 seats, which fills the slot
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 4)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
    )
    assert order.tickets.filter(status=Ticket.Status.VALID).count() == 4
    with pytest.raises(SoldOut):
        order_place(
            lines=[OrderLine(slot.pk, adult.pk, 1)],
            channel=Order.Channel.RESELLER,
            reseller=reseller,
            payment_method=Order.PaymentMethod.INVOICE,
        )
    assert Ticket.objects.count() == 10


def test_reseller_sales_use_up_its_allocation_first():
    # given 4 seats allocated to R in a slot of 10, of which R sold 3
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    reseller = ResellerFactory()
    ResellerAllocation.objects.create(reseller=reseller, time_slot=slot, seats=4)
    order_place(
        lines=[OrderLine(slot.pk, adult.pk, 3)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
    )
    # when the public buys: 10 - 3 sold - 1 still kept = 6 left
    _web(slot, adult, 6)
    # then a 7th public seat is refused
    with pytest.raises(SoldOut):
        _web(slot, adult, 1)
    assert Ticket.objects.count() == 9


def test_expired_holds_do_not_take_seats():
    slot = TimeSlotFactory(capacity=2)
    adult = TicketTypeFactory(site=slot.site)
    now = timezone.now()
    _web(slot, adult, 2, now=now)
    with pytest.raises(SoldOut):
        _web(slot, adult, 1, now=now + dt.timedelta(minutes=14))
    order = _web(slot, adult, 2, now=now + dt.timedelta(minutes=15, seconds=1))
    assert order.tickets.count() == 2


def test_suite_runs_on_postgresql():
    from django.db import connection

    assert connection.vendor == "postgresql"
