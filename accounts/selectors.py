"""Reads of the museum card: a holder's cards and visits, the monthly settlement. No writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import CardProduct, CardVisit, MuseumCard
from museum.models import Site


def card_get_by_token(token: str) -> MuseumCard | None:
    """The card whose holder link carries ``token``, or None (a paid card only)."""
    if not token or len(token) > 64:
        return None
    return (
        MuseumCard.objects.select_related("product")
        .exclude(status__in=[MuseumCard.Status.AWAITING_PAYMENT, MuseumCard.Status.AWAITING_HOLDER])
        .filter(access_token=token)
        .first()
    )


def cards_for_user(user) -> QuerySet[MuseumCard]:
    """The cards held by a signed-in person (their account is the card's holder)."""
    return (
        MuseumCard.objects.filter(holder=user)
        .exclude(status__in=[MuseumCard.Status.AWAITING_PAYMENT, MuseumCard.Status.AWAITING_HOLDER])
        .select_related("product")
        .order_by("-created_at")
    )


def card_visits(card: MuseumCard, *, limit: int = 500) -> list[CardVisit]:
    """The card's visits, newest first, with their site."""
    return list(card.visits.select_related("site").order_by("-visited_at", "-pk")[:limit])


def card_products_on_sale() -> QuerySet[CardProduct]:
    return CardProduct.objects.filter(is_active=True).order_by("price_cents", "pk")


def card_product_default() -> CardProduct | None:
    return card_products_on_sale().first()


CARD_SHOP_OPEN_KEY = "accounts:card_shop_open"
CARD_SHOP_OPEN_SECONDS = 60


def card_shop_is_open() -> bool:
    """Whether a museum card is on sale: the site header and the home page link the shop.

    Asked on every page, so the answer is cached for a minute (no query on most pages);
    the product admin forgets it when a product is saved. Side effects: a cache entry.
    """
    is_open = cache.get(CARD_SHOP_OPEN_KEY)
    if is_open is None:
        is_open = card_products_on_sale().exists()
        cache.set(CARD_SHOP_OPEN_KEY, is_open, CARD_SHOP_OPEN_SECONDS)
    return bool(is_open)


def card_get_by_number(number: str) -> MuseumCard | None:
    """The card with this 12-digit number (spaces and dashes ignored), or None.

    For the front desk, which reads the number from the card the holder shows.
    """
    digits = "".join((number or "").split()).replace("-", "")
    if len(digits) != 12 or not digits.isdigit():
        return None
    return MuseumCard.objects.select_related("product").filter(number=digits).first()


@dataclass(frozen=True)
class SettlementRow:
    site_id: int
    site_name: str
    visits: int
    holders: int


@dataclass(frozen=True)
class Settlement:
    year: int
    month: int
    first_day: dt.date
    last_day: dt.date
    rows: list[SettlementRow]

    @property
    def total_visits(self) -> int:
        return sum(row.visits for row in self.rows)


def month_bounds(year: int, month: int) -> tuple[dt.datetime, dt.datetime]:
    """The first instant of the month and of the next one, in the museum's time zone."""
    tz = timezone.get_current_timezone()
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start, end


def card_settlement(*, year: int, month: int) -> Settlement:
    """Card visits and distinct holders per site in a calendar month (one query).

    Every site is listed, with zero where no card holder came. A holder is a card (a card
    is personal), counted once per site however often they came.
    Raises: ValueError for a month that does not exist.
    """
    start, end = month_bounds(year, month)
    in_month = Q(card_visits__visited_at__gte=start, card_visits__visited_at__lt=end)
    sites = Site.objects.annotate(
        visit_count=Count("card_visits", filter=in_month),
        holder_count=Count("card_visits__card", filter=in_month, distinct=True),
    ).order_by("position", "slug")
    return Settlement(
        year=year,
        month=month,
        first_day=start.date(),
        last_day=(end - dt.timedelta(days=1)).date(),
        rows=[
            SettlementRow(site.pk, site.name, site.visit_count, site.holder_count) for site in sites
        ],
    )
