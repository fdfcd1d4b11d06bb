"""The personal data an account holds, and its export for the holder ("download my data").

What: the profile (name, e-mail, optional phone, postal address, year of birth, language),
the account's orders and tickets, newsletter consents given with the account's e-mail,
museum cards held and their visits, account closure requests. Why: to sell and deliver
tickets and cards, and to keep the record of consents. The full cross-app export and the
erasure come with the privacy app; this is the account's own part.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from accounts.models import AccountClosureRequest, CardVisit, MuseumCard, User
from newsletter.selectors import consents_for_email
from ticketing.models import Order, Ticket


def _when(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def account_data_export(*, user: User, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the account holds about its holder, as JSON-ready data; no side effects.

    Only rows that belong to ``user``: orders with ``user``, cards with ``holder``,
    consents recorded for the account's e-mail, the user's own closure requests.
    """
    orders = (
        Order.objects.filter(user=user)
        .select_related("site")
        .prefetch_related("tickets__ticket_type", "tickets__time_slot__exhibition")
        .order_by("created_at", "pk")
    )
    cards = MuseumCard.objects.filter(holder=user).select_related("product").order_by("pk")
    visits = CardVisit.objects.filter(card__holder=user).select_related("site", "card")
    return {
        "exported_at": _when(now or timezone.now()),
        "profile": {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "phone": user.phone,
            "postal_address": user.postal_address,
            "year_of_birth": user.year_of_birth,
            "preferred_language": user.preferred_language,
            "date_joined": _when(user.date_joined),
            "last_login": _when(user.last_login),
        },
        "orders": [
            {
                "code": order.code,
                "created_at": _when(order.created_at),
                "status": order.status,
                "channel": order.channel,
                "site": order.site.name if order.site else None,
                "email": order.email,
                "name": order.name,
                "language": order.language,
                "total_cents": order.total_cents,
                "currency": order.currency,
                "paid_at": _when(order.paid_at),
                "tickets": [_ticket(ticket) for ticket in order.tickets.all()],
            }
            for order in orders
        ],
        "newsletter_consents": [
            {
                "email": consent.email,
                "given": consent.given,
                "wording": consent.wording,
                "wording_version": consent.wording_version,
                "source": consent.source,
                "language": consent.language,
                "recorded_at": _when(consent.recorded_at),
            }
            for consent in consents_for_email(user.email)
        ],
        "museum_cards": [
            {
                "number": card.number,
                "product": card.product.name,
                "status": card.status,
                "holder_name": card.holder_name,
                "holder_email": card.holder_email,
                "valid_from": _when(card.valid_from),
                "valid_until": _when(card.valid_until),
                "visits": [
                    {"site": visit.site.name, "visited_at": _when(visit.visited_at)}
                    for visit in visits
                    if visit.card_id == card.pk
                ],
            }
            for card in cards
        ],
        "account_closure_requests": [
            {
                "requested_at": _when(request.created_at),
                "status": request.status,
                "reason": request.reason,
            }
            for request in AccountClosureRequest.objects.filter(user=user).order_by("created_at")
        ],
    }


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return {
        "type": ticket.ticket_type.name,
        "exhibition": ticket.time_slot.exhibition.name,
        "starts_at": _when(ticket.time_slot.starts_at),
        "status": ticket.status,
        "price_cents": ticket.price_cents,
        "checked_in_at": _when(ticket.checked_in_at),
    }
