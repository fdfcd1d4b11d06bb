"""The personal data accounts and museum cards hold: declarations, and "download my data".

Declarations (privacy.registry): the account (profile, sign-in times), museum cards and
their visits and purchases, gifts as their buyer wrote them, account closure requests,
and the staff's card check-ins. Accounts are anonymised after seven years without
activity (seed 003); cards follow the customer register's rule, five years after the end
of the calendar year of the last transaction (seed 002), and erasing a card's holder ends
the card (seed 001). An account's activity is its last purchase, sign-in or e-mail
opened (``User.last_activity_at``, kept by accounts.services.users.account_activity_record).

``account_data_export`` is the account's own download (My account): only what the account
holds. The complete copy across all apps is ``privacy.services.access_bundle``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import CharField, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    AccountClosureRequest,
    CardProduct,
    CardPurchase,
    CardVisit,
    MuseumCard,
    User,
)
from newsletter.selectors import consents_for_email
from privacy import purposes
from privacy.declarations import (
    Category,
    DataSubject,
    Erasure,
    Export,
    Hold,
    LegalBasis,
    PersonLink,
)
from privacy.registry import Retention, not_personal, register
from privacy.retention import EndAction
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
            "last_activity_at": _when(user.last_activity_at),
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


# --- declarations -------------------------------------------------------------------------

CARD_LINK = PersonLink(email=("holder_email", "gift_recipient_email"), user="holder")
CARD_ACTIVITY = ("created_at", "activated_at", "valid_until", "ended_at")


def cards_end_on_erasure(cards, *, now: dt.datetime | None = None) -> None:
    """Erasure of a card's holder ends the card (seed 001): it is personal and would
    otherwise be valid for nobody in particular. Side effects: see ``card_end``."""
    from accounts.services.cards import card_end

    for card in cards:
        card_end(card=card, reason="erasure", now=now)


def _card_still_running(now: dt.datetime) -> Q:
    """Cards valid today or still to start, and cards with visits not yet settled.

    The settlement with the museums is monthly: a visit of this month or the last one
    may still be in a settlement to come (seed 002).
    """
    today = timezone.localdate(now)
    first_of_month = today.replace(day=1)
    previous_month = (first_of_month - dt.timedelta(days=1)).replace(day=1)
    unsettled_since = dt.datetime.combine(
        previous_month, dt.time.min, tzinfo=timezone.get_current_timezone()
    )
    return (
        Q(status=MuseumCard.Status.ACTIVE, valid_until__gte=today)
        | Q(
            status__in=[
                MuseumCard.Status.AWAITING_PAYMENT,
                MuseumCard.Status.AWAITING_HOLDER,
                MuseumCard.Status.NOT_ACTIVATED,
            ]
        )
        | Q(visits__visited_at__gte=unsettled_since)
    )


register(
    User,
    label=_("Account"),
    fields=[
        "email",
        "first_name",
        "last_name",
        "phone",
        "postal_address",
        "year_of_birth",
        "preferred_language",
        "password",
        "is_active",
        "date_joined",
        "last_login",
        "last_activity_at",
    ],
    link=PersonLink(user="pk", email="email"),
    category=[
        Category.IDENTITY,
        Category.CONTACT,
        Category.BIRTH_YEAR,
        Category.PREFERENCES,
        Category.ACCOUNT,
    ],
    subjects=[DataSubject.ACCOUNT_HOLDERS, DataSubject.STAFF],
    purpose=purposes.ACCOUNTS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    # last_activity_at is the last purchase, sign-in or e-mail opened; last_login and
    # date_joined still count for accounts from before it was recorded.
    retention=Retention.inactivity_anonymise(
        7, activity=("last_activity_at", "last_login", "date_joined")
    ),
    erasure=Erasure.anonymise(
        {
            # The address is unique: a placeholder that can never receive mail.
            "email": Concat(Value("erased-"), Cast("pk", CharField()), Value("@invalid")),
            "first_name": "",
            "last_name": "",
            "phone": "",
            "postal_address": "",
            "year_of_birth": None,
            "password": "!",  # an unusable password: nobody can sign in any more
            "is_active": False,
        },
        keeps=_("The account's row stays, without personal data, for the orders that point to it"),
    ),
    export=Export(
        withhold=(
            ("password", _("Only a one-way hash of your password is stored; it is never shown")),
        )
    ),
)

register(
    MuseumCard,
    fields=[
        "number",
        "holder_name",
        "holder_email",
        "holder",
        "language",
        "status",
        "valid_from",
        "valid_until",
        "months_pending",
        "activated_at",
        "ended_at",
        "end_reason",
        "is_gift",
        "gift_recipient_email",
        "gift_deliver_on",
        "gift_greeting",
        "gift_sent_at",
        "gift_claimed_at",
    ],
    link=CARD_LINK,
    category=[Category.IDENTITY, Category.CONTACT, Category.CARD, Category.FREE_TEXT],
    subjects=[DataSubject.CARD_HOLDERS, DataSubject.GIFT_RECIPIENTS],
    purpose=purposes.MUSEUM_CARD,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.years_after_last_activity(
        5, activity=CARD_ACTIVITY, then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise(
        {
            "holder_name": "",
            "holder_email": "",
            "holder": None,
            "gift_recipient_email": "",
            "gift_greeting": "",
        },
        keeps=_("The card's number, validity and visits stay for the settlement with the museums"),
        effects=[_("The card stops being valid: it is personal")],
        hook="accounts.privacy.cards_end_on_erasure",
    ),
    export=Export(context=("product__name",)),
    holds=[
        Hold(
            code="card_running",
            reason=_(
                "A card still valid or not yet started, or with visits not yet settled "
                "with the museums"
            ),
            rows=_card_still_running,
        )
    ],
    source=_("You, or the person who gave you the card (your name and e-mail address)"),
)

# A gift as its buyer wrote it: the buyer sees the recipient and greeting they gave.
register(
    MuseumCard,
    key="accounts.museumcard:gift_buyer",
    label=_("Museum cards given as a present"),
    fields=["gift_recipient_email", "gift_deliver_on", "gift_greeting", "gift_sent_at"],
    link=PersonLink(email="purchases__order__buyer__email", user="purchases__order__user"),
    rows=Q(is_gift=True),
    category=[Category.CARD, Category.FREE_TEXT],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.MUSEUM_CARD,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.years_after_last_activity(
        5, activity=CARD_ACTIVITY, then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise(
        {"gift_greeting": ""},
        keeps=_("The recipient's address stays with the card: it is the recipient's data"),
    ),
    export=Export(context=("number",)),
)

register(
    CardVisit,
    fields=["card", "site", "visited_at", "gate"],
    link=PersonLink(email="card__holder_email", user="card__holder"),
    category=[Category.VISIT],
    subjects=[DataSubject.CARD_HOLDERS],
    purpose=purposes.MUSEUM_CARD,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.follows("card"),
    erasure=Erasure.keep(
        reason=_(
            "Visits are settled with the museums of the network; once the card is "
            "anonymised they no longer identify anyone"
        )
    ),
    export=Export(context=("card__number", "site__name")),
)

register(
    CardVisit,
    key="accounts.cardvisit:checked_in_by",
    label=_("Museum-card visits admitted by a staff member"),
    fields=["checked_in_by", "visited_at", "gate"],
    link=PersonLink(user="checked_in_by"),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who admitted which card, to settle disputes at the entrance and prevent fraud"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.follows("card"),
    erasure=Erasure.anonymise({"checked_in_by": None}),
)

register(
    CardPurchase,
    fields=["order", "card", "kind", "months", "price_cents", "applied_at", "created_at"],
    link=PersonLink(
        email=("order__buyer__email", "card__holder_email"), user=("order__user", "card__holder")
    ),
    category=[Category.ORDER, Category.CARD],
    subjects=[DataSubject.BUYERS, DataSubject.CARD_HOLDERS],
    purpose=purposes.MUSEUM_CARD,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.follows("order"),
    erasure=Erasure.keep(
        reason=_(
            "A card purchase is a line of an order, kept in the accounts; it holds no name "
            "or address itself"
        )
    ),
    export=Export(context=("order__code", "card__number")),
)

register(
    AccountClosureRequest,
    fields=["email", "user", "status", "reason", "created_at", "updated_at"],
    link=PersonLink(email="email", user="user"),
    category=[Category.CONTACT, Category.REQUEST, Category.FREE_TEXT],
    subjects=[DataSubject.ACCOUNT_HOLDERS],
    purpose=purposes.PRIVACY_REQUESTS,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.years_after_year_end(5, of="updated_at"),
    erasure=Erasure.keep(
        reason=_(
            "The record of your request and of its answer is kept to show that it was "
            "handled (Art. 5(2) GDPR)"
        )
    ),
)

not_personal(
    CardProduct,
    ["name", "description"],
    reason=_("The card product's public name and description"),
)
