"""Factories for the ticket shop: a site open every day with one exhibition and prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from museum.models import OpeningHours, Site
from ticketing.models import Exhibition, Reseller, TicketType, TimeSlot


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"site-{n}")
    name = factory.Sequence(lambda n: f"Site {n}")

    @factory.post_generation
    def open_every_day(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            for weekday in range(7):
                OpeningHours.objects.create(
                    site=obj, weekday=weekday, opens_at=dt.time(9), closes_at=dt.time(18)
                )


class ExhibitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exhibition

    site = factory.SubFactory(SiteFactory)
    slug = factory.Sequence(lambda n: f"exhibition-{n}")
    name = factory.Sequence(lambda n: f"Exhibition {n}")


class TicketTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketType

    site = factory.SubFactory(SiteFactory)
    kind = TicketType.Kind.ADULT
    name = "Adult"
    price_cents = 1400
    vat_rate = Decimal("6.00")
    max_per_order = 10


def tomorrow_at(hour: int, minute: int = 0) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


class TimeSlotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeSlot

    exhibition = factory.SubFactory(ExhibitionFactory)
    site = factory.SelfAttribute("exhibition.site")
    starts_at = factory.LazyFunction(lambda: tomorrow_at(10))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(minutes=30))
    capacity = 20


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller

    name = factory.Sequence(lambda n: f"Reseller {n}")
    contact_email = factory.Sequence(lambda n: f"partner{n}@reseller.example")
    token_hash = factory.Sequence(lambda n: f"{n:064x}")
    token_prefix = "test"
