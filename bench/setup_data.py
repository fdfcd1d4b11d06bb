"""Seed and inspect the benchmark database; run by bench/run.py with the bench environment.

    python bench/setup_data.py seed    -> prints one JSON object: what the load needs
    python bench/setup_data.py count SLOT_ID -> prints the seats sold in that slot, e-mails

`seed` expects `manage.py migrate` and `manage.py load_demo` to have run. It takes the
permanent collection of the demo's main site (daily capacity 900, so the site row is
locked too, as in production), picks an open day a few days ahead, gives that day's first
slot a capacity of 100 (the slot the reseller API load sells out), creates a reseller
through the service, and places a one-ticket and a ten-ticket desk order on another slot
for the PDF benchmark (no e-mail address: nothing is queued for them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")

import django  # noqa: E402

django.setup()

from django.db.models import Count, Q, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from museum.models import Closure, OutboxEmail  # noqa: E402
from ticketing.models import Exhibition, Order, Ticket, TicketType, TimeSlot  # noqa: E402
from ticketing.services.orders import OrderLine, order_place  # noqa: E402
from ticketing.services.resellers import reseller_create  # noqa: E402

EXHIBITION = "permanent-collection"
BENCH_CAPACITY = 100


def _bench_day(exhibition: Exhibition) -> dt.date:
    """The first day from three days ahead with slots and no closure."""
    day = timezone.localdate() + dt.timedelta(days=3)
    for _ in range(30):
        start = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
        has_slots = TimeSlot.objects.filter(
            exhibition=exhibition, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1)
        ).exists()
        closed = Closure.objects.filter(site_id=exhibition.site_id).covering(day).exists()
        if has_slots and not closed:
            return day
        day += dt.timedelta(days=1)
    raise SystemExit("no open day with slots in the next month: did load_demo run?")


def seed() -> dict:
    exhibition = Exhibition.objects.select_related("site").get(slug=EXHIBITION)
    day = _bench_day(exhibition)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
    slots = list(
        TimeSlot.objects.filter(
            exhibition=exhibition, starts_at__gte=start, starts_at__lt=start + dt.timedelta(days=1)
        ).order_by("starts_at")
    )
    bench_slot, pdf_slot = slots[0], slots[1]
    bench_slot.capacity = BENCH_CAPACITY
    bench_slot.save(update_fields=["capacity", "updated_at"])
    adult = TicketType.objects.get(
        site=exhibition.site, kind=TicketType.Kind.ADULT, exhibition=None
    )
    reseller, token = reseller_create(name="Bench reseller", contact_email="bench@reseller.example")
    orders = {}
    for quantity in (1, 10):
        orders[quantity] = order_place(
            lines=[OrderLine(pdf_slot.pk, adult.pk, quantity)],
            channel=Order.Channel.DESK,
            payment_method=Order.PaymentMethod.CASH,
            name="Bench visitor",
            language="en",
        ).pk
    return {
        "exhibition": exhibition.slug,
        "day": day.isoformat(),
        "slot_id": bench_slot.pk,
        "slot": str(bench_slot.public_id),
        "capacity": bench_slot.capacity,
        "ticket_type": str(adult.public_id),
        "token": token,
        "reseller_id": reseller.pk,
        "pdf_order_1": orders[1],
        "pdf_order_10": orders[10],
    }


def count(slot_id: int) -> dict:
    """Seats sold in the slot (valid tickets and unexpired holds) and the outbox states."""
    now = timezone.now()
    taken = Ticket.objects.filter(
        Q(status=Ticket.Status.VALID)
        | Q(
            status=Ticket.Status.RESERVED,
            order__status=Order.Status.PENDING,
            order__hold_expires_at__gt=now,
        ),
        time_slot_id=slot_id,
    ).aggregate(n=Sum("seats"))["n"]
    slot = TimeSlot.objects.get(pk=slot_id)
    emails = dict(
        OutboxEmail.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {
        "sold": taken or 0,
        "capacity": slot.capacity,
        "orders": Order.objects.filter(tickets__time_slot_id=slot_id).distinct().count(),
        "emails": emails,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed"]:
        print(json.dumps(seed()))
    elif sys.argv[1:2] == ["count"]:
        print(json.dumps(count(int(sys.argv[2]))))
    else:
        raise SystemExit(__doc__)
