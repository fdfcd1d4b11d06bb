"""The reseller API's order placement: a pinned number of queries, the same seat counts."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from museum.models import OutboxEmail
from tests.ticketing.api_helpers import ORDERS, _order_body, _reseller_order
from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing import selectors
from ticketing.models import Order, ResellerAllocation, Ticket
from ticketing.services.orders import OrderLine, order_place

# Token; slot; ticket types; closure | (site lock;) slot lock; seats; order; its buyer's
# details (OrderBuyer); tickets; two audit events; buyer's activity; outbox | tickets of the
# answer; plus the savepoint and its release that the test's own transaction turns the
# service's transaction into.
MAX_QUERIES = 16


def test_an_api_order_runs_a_bounded_number_of_queries(
    partner, shop, django_assert_max_num_queries
):
    _reseller, client = partner
    slot, adult, child = shop
    body = _order_body(slot, (adult, 2), (child, 1), email="v@example.org", name="V")
    # when a reseller places an order with an e-mail (the outbox row is written too)
    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.post(ORDERS, body, format="json")
    # then it is placed, and answered with its tickets
    assert response.status_code == 201
    order = Order.objects.get()
    assert response.json()["code"] == order.code
    assert [t["id"] for t in response.json()["tickets"]] == [
        str(t.public_id) for t in order.tickets.order_by("pk")
    ]
    assert OutboxEmail.objects.filter(dedupe_key=f"ticketing.order_tickets:{order.pk}:0").exists()


def test_an_api_order_on_a_capped_site_adds_only_the_site_lock(
    partner, django_assert_max_num_queries
):
    _reseller, client = partner
    site = SiteFactory(daily_capacity=50)
    slot = TimeSlotFactory(exhibition=ExhibitionFactory(site=site), capacity=10)
    adult = TicketTypeFactory(site=site)
    with django_assert_max_num_queries(MAX_QUERIES + 1):
        response = client.post(ORDERS, _order_body(slot, (adult, 1)), format="json")
    assert response.status_code == 201


def test_capacity_usage_counts_as_the_separate_selectors(partner, rival):
    # given a capped site with two slots on one day and one the next day, sales by two
    # resellers, allocations, an unexpired hold and an expired one
    reseller, _ = partner
    other, _ = rival
    now = timezone.now()
    site = SiteFactory(daily_capacity=100)
    exhibition = ExhibitionFactory(site=site)
    starts = timezone.localtime(now).replace(hour=10, minute=0, second=0, microsecond=0)
    starts += dt.timedelta(days=2)
    morning = TimeSlotFactory(exhibition=exhibition, starts_at=starts, capacity=30)
    noon = TimeSlotFactory(exhibition=exhibition, starts_at=starts.replace(hour=12), capacity=30)
    next_day = TimeSlotFactory(
        exhibition=exhibition, starts_at=starts + dt.timedelta(days=1), capacity=30
    )
    adult = TicketTypeFactory(site=site)
    ResellerAllocation.objects.create(reseller=reseller, time_slot=morning, seats=5)
    ResellerAllocation.objects.create(reseller=other, time_slot=morning, seats=4)
    ResellerAllocation.objects.create(reseller=other, time_slot=next_day, seats=3)
    _reseller_order(reseller, morning, adult, 2)
    _reseller_order(other, morning, adult, 1)
    _reseller_order(other, noon, adult, 3)
    _reseller_order(other, next_day, adult, 1)
    order_place(
        lines=[OrderLine(morning.pk, adult.pk, 2), OrderLine(noon.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )
    held = order_place(
        lines=[OrderLine(morning.pk, adult.pk, 4)], channel=Order.Channel.WEB, now=now
    )
    expired = order_place(
        lines=[OrderLine(noon.pk, adult.pk, 6)],
        channel=Order.Channel.WEB,
        now=now - dt.timedelta(hours=2),
    )
    assert held.status == expired.status == Order.Status.PENDING
    Ticket.objects.filter(order__reseller=other, time_slot=next_day).update(
        status=Ticket.Status.CANCELLED
    )
    slot_ids = [morning.pk, next_day.pk]
    days = [timezone.localtime(s.starts_at).date() for s in (morning, next_day)]
    for except_reseller in (None, reseller, other):
        # when both ways count the seats
        usage = selectors.capacity_usage(
            slot_ids=slot_ids, now=now, except_reseller=except_reseller, site_id=site.pk, days=days
        )
        # then they agree
        assert usage.taken == selectors.seats_taken(slot_ids=slot_ids, now=now)
        assert usage.kept == selectors.seats_kept_for_resellers(
            slot_ids=slot_ids, now=now, except_reseller=except_reseller
        )
        assert usage.taken_per_day == {
            day: selectors.site_seats_taken_on(site=site, day=day, now=now) for day in days
        }
    # and the figures are the expected ones: morning 2 + 1 + 2 + 4 held, noon 3 + 1
    assert usage.taken == {morning.pk: 9}
    assert usage.taken_per_day == {days[0]: 13, days[1]: 0}
    assert selectors.capacity_usage(slot_ids=slot_ids, now=now).taken_per_day == {}
