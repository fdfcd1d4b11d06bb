"""The only place where ticketing takes row locks, always in the same order.

Order of locks: the order row, then the site row (only when it has a daily cap), then
the time-slot rows by ascending id. Locks are never held across a network call.
"""

from __future__ import annotations

from museum.models import Site
from ticketing.models import Order, TimeSlot


def lock_order(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def lock_site(site_id: int) -> Site:
    return Site.objects.select_for_update().get(pk=site_id)


def lock_slots(slot_ids: list[int]) -> dict[int, TimeSlot]:
    slots = TimeSlot.objects.select_for_update().filter(pk__in=sorted(set(slot_ids))).order_by("pk")
    return {slot.pk: slot for slot in slots}
