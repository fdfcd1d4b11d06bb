"""Many buyers at once for the last seats: real parallel connections, never oversold."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connections
from django.db.models import Sum

from tests.ticketing.factories import (
    ExhibitionFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
    tomorrow_at,
)
from ticketing.errors import DailyCapReached, SoldOut
from ticketing.models import Order, Ticket
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db(transaction=True)

BUYERS = 24


def _buy_in_parallel(jobs: list[tuple[int, int, int]]) -> Counter:
    """Run one order_place per job, each in its own thread and connection, all at once."""
    barrier = threading.Barrier(len(jobs))
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def buy(slot_id: int, type_id: int, quantity: int) -> None:
        try:
            barrier.wait(timeout=30)
            order_place(
                lines=[OrderLine(slot_id, type_id, quantity)],
                channel=Order.Channel.WEB,
                email="buyer@example.org",
            )
            result = "ok"
        except SoldOut:
            result = "sold_out"
        except DailyCapReached:
            result = "daily_cap"
        except Exception as exc:  # anything else is a failure of the test
            result = f"error: {exc!r}"
        finally:
            connections.close_all()
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=buy, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_many_buyers_for_the_last_seats_of_a_slot_never_oversell():
    # given a slot with 5 places left and 24 buyers of one ticket each
    slot = TimeSlotFactory(capacity=5)
    adult = TicketTypeFactory(site=slot.site)
    # when they all buy at the same moment
    outcomes = _buy_in_parallel([(slot.pk, adult.pk, 1)] * BUYERS)
    # then exactly 5 succeed and the others are told it is sold out
    assert outcomes == Counter({"ok": 5, "sold_out": BUYERS - 5})
    assert Order.objects.count() == 5
    assert Ticket.objects.filter(time_slot=slot).count() == 5


def test_buyers_of_several_seats_fill_a_slot_exactly():
    # given a slot of 10 and 24 buyers of 3 tickets each
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    # when they buy at once
    outcomes = _buy_in_parallel([(slot.pk, adult.pk, 3)] * BUYERS)
    # then 3 orders fit (9 seats), one seat stays free, nothing else was written
    assert outcomes == Counter({"ok": 3, "sold_out": BUYERS - 3})
    assert Ticket.objects.filter(time_slot=slot).count() == 9


def test_daily_cap_across_two_slots_holds_under_parallel_buyers():
    # given a site with a daily cap of 7 and two slots of 10 on one day
    site = SiteFactory(daily_capacity=7)
    exhibition = ExhibitionFactory(site=site)
    morning = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(10))
    afternoon = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=tomorrow_at(15))
    adult = TicketTypeFactory(site=site)
    # when 24 buyers, half on each slot, buy one ticket each at once
    jobs = [(morning.pk, adult.pk, 1)] * (BUYERS // 2) + [(afternoon.pk, adult.pk, 1)] * (
        BUYERS // 2
    )
    outcomes = _buy_in_parallel(jobs)
    # then exactly 7 seats are sold over the day and the others hit the cap
    assert outcomes == Counter({"ok": 7, "daily_cap": BUYERS - 7})
    sold = Ticket.objects.filter(time_slot__in=[morning, afternoon]).aggregate(n=Sum("seats"))
    assert sold["n"] == 7
