"""The personal data of ticket sales: orders, tickets, payments and the reseller API.

Guests stay first-class: an order is linked to its buyer by the e-mail address, and to an
account only when there is one. Orders are kept five years after the end of the calendar
year of the buyer's last transaction (seed 002), then anonymised: the amounts, dates and
tickets stay in the accounts without the buyer's name or address.
"""

from __future__ import annotations

from django.db.models import Q, Subquery
from django.db.models.fields.json import KT
from django.db.models.lookups import In
from django.utils.translation import gettext_lazy as _

from privacy import purposes
from privacy.declarations import (
    Category,
    DataSubject,
    Erasure,
    Export,
    Hold,
    LegalBasis,
    Person,
    PersonLink,
)
from privacy.registry import Retention, not_personal, register
from privacy.retention import EndAction
from ticketing.models import (
    ApiIdempotencyKey,
    Exhibition,
    Order,
    OrderBuyer,
    Payment,
    Reseller,
    SlotRule,
    Ticket,
    TicketType,
    WebhookEvent,
)

ORDER_LINK = PersonLink(email="order__buyer__email", user="order__user")
TRANSACTIONS = ("created_at", "paid_at", "cancelled_at")

ACCOUNTING_KEEPS = _(
    "The order's amounts, date and tickets stay in the accounts, as accounting law "
    "requires, without the buyer's name, e-mail address or account"
)


def _open_or_future_order(now, prefix=""):
    """Orders still running: awaiting payment, awaiting a refund, or a visit to come
    (``prefix`` leads from the declared row to its order)."""
    return Q(**{f"{prefix}status__in": [Order.Status.PENDING, Order.Status.REFUND_PENDING]}) | Q(
        **{
            f"{prefix}tickets__time_slot__ends_at__gt": now,
            f"{prefix}tickets__status": Ticket.Status.VALID,
        }
    )


OPEN_ORDER = _("An order awaiting payment or a refund, or with a visit still to come")


register(
    Order,
    fields=[
        "language",
        "user",
        "status",
        "channel",
        "payment_method",
        "total_cents",
        "currency",
        "created_at",
        "paid_at",
        "cancelled_at",
    ],
    link=PersonLink(email="buyer__email", user="user"),
    category=[Category.PREFERENCES, Category.ORDER],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.TICKET_SALES,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER, purposes.STRIPE, purposes.RESELLERS],
    retention=Retention.years_after_last_activity(
        5, activity=TRANSACTIONS, then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise({"user": None}, keeps=ACCOUNTING_KEEPS),
    export=Export(context=("code", "site__name")),
    holds=[Hold(code="open_order", reason=OPEN_ORDER, rows=_open_or_future_order)],
    source=_("You, or the reseller you bought from (its order reference)"),
)

# The buyer's name, address and reseller reference: a narrow table of their own, so that
# erasing them deletes a small row and leaves the accounting record alone.
register(
    OrderBuyer,
    key="ticketing.order:buyer",
    label=_("Your name and e-mail address on orders"),
    fields=["email", "name", "reseller_reference"],
    link=PersonLink(email="email", user="order__user"),
    category=[Category.IDENTITY, Category.CONTACT],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.TICKET_SALES,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER, purposes.STRIPE, purposes.RESELLERS],
    retention=Retention.years_after_last_activity(
        5, activity=tuple(f"order__{name}" for name in TRANSACTIONS), then=EndAction.DELETE
    ),
    erasure=Erasure.delete(),
    export=Export(context=("order__code",)),
    holds=[
        Hold(
            code="open_order",
            reason=OPEN_ORDER,
            rows=lambda now: _open_or_future_order(now, prefix="order__"),
        )
    ],
    site="order__site",
    source=_("You, or the reseller you bought from (its order reference)"),
)

# The staff member who sold an order at the desk: their own work record.
register(
    Order,
    key="ticketing.order:created_by",
    label=_("Orders sold by a staff member"),
    fields=["created_by", "created_at", "channel"],
    link=PersonLink(user="created_by"),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who sold what at the desk, to balance the till and prevent fraud"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_last_activity(
        5, activity=TRANSACTIONS, then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise({"created_by": None}),
)

register(
    Ticket,
    fields=[
        "time_slot",
        "ticket_type",
        "seats",
        "price_cents",
        "status",
        "checked_in_at",
        "checked_in_gate",
        "cancelled_at",
    ],
    link=ORDER_LINK,
    category=[Category.ORDER, Category.VISIT],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.TICKET_SALES,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.RESELLERS],
    retention=Retention.follows("order"),
    erasure=Erasure.keep(
        reason=_(
            "A ticket holds no name or address: once its order is anonymised it is an "
            "anonymous admission in the accounts and the visitor statistics"
        )
    ),
    export=Export(
        context=(
            "order__code",
            "ticket_type__name",
            "time_slot__exhibition__name",
            "time_slot__starts_at",
        )
    ),
)

# The staff member who admitted a ticket: their own work record, not the buyer's data.
register(
    Ticket,
    key="ticketing.ticket:checked_in_by",
    label=_("Tickets admitted by a staff member"),
    fields=["checked_in_by", "checked_in_at", "checked_in_gate"],
    link=PersonLink(user="checked_in_by"),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who admitted which ticket, to settle disputes at the entrance and prevent fraud"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.follows("order"),
    erasure=Erasure.anonymise({"checked_in_by": None}),
)

register(
    Payment,
    fields=[
        "provider",
        "reference",
        "payment_intent",
        "refund_reference",
        "amount_cents",
        "currency",
        "status",
        "created_at",
    ],
    link=ORDER_LINK,
    category=[Category.PAYMENT],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.PAYMENTS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.STRIPE, purposes.AUTHORITIES],
    retention=Retention.years_after_year_end(7, of="created_at"),
    erasure=Erasure.keep(
        reason=_(
            "Accounting law: the payment provider's references are kept with the accounting "
            "records for their legal period; they hold no card number, name or address"
        )
    ),
    export=Export(context=("order__code",)),
)


def _webhooks_of(person: Person) -> Q | None:
    """Provider events about the person's payments (matched by the payment intent)."""
    orders = person.matching(email="order__buyer__email", user="order__user")
    if orders is None:
        return None
    intents = Payment.objects.filter(orders).exclude(payment_intent="").values("payment_intent")
    return Q(payment_intent__in=intents)


register(
    WebhookEvent,
    fields=["provider", "event_id", "event_type", "payment_intent", "outcome", "created"],
    link=PersonLink(q=_webhooks_of),
    category=[Category.PAYMENT],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.PAYMENTS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.STRIPE],
    # Stripe retries an event for three days; a month covers that and any support question.
    retention=Retention.days_after(30, of="received_at"),
    erasure=Erasure.delete(),
)


def _idempotent_answers_of(person: Person) -> Q | None:
    """Stored reseller API answers that describe one of the person's orders."""
    orders = person.matching(email="buyer__email", user="user")
    if orders is None:
        return None
    codes = Order.objects.filter(orders, channel=Order.Channel.RESELLER).values("code")
    return Q(In(KT("response_body__code"), Subquery(codes)))


register(
    ApiIdempotencyKey,
    label=_("Stored answers of the reseller API"),
    fields=["response_body", "response_status", "created_at"],
    link=PersonLink(q=_idempotent_answers_of),
    category=[Category.ORDER],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.TICKET_SALES,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.RESELLERS],
    # ticketing.tasks.purge_idempotency_keys deletes them after a week.
    retention=Retention.days_after(7, of="created_at"),
    erasure=Erasure.delete(),
)

register(
    Reseller,
    fields=["name", "contact_email"],
    link=PersonLink(email="contact_email"),
    category=[Category.BUSINESS_CONTACT],
    subjects=[DataSubject.BUSINESS_CONTACTS],
    purpose=purposes.PARTNERS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_last_activity(5, activity=("created_at", "updated_at")),
    erasure=Erasure.anonymise(
        {"contact_email": ""},
        keeps=_("The reseller's name stays on its orders, for the accounts"),
    ),
)

# The catalogue: words the museum writes about itself.
not_personal(
    Exhibition,
    ["name", "description"],
    reason=_("The exhibition's public title and description"),
)
not_personal(
    TicketType,
    ["name", "description"],
    reason=_("The ticket type's public name and who it is for (e.g. 'Students')"),
)
not_personal(
    SlotRule,
    ["weekdays"],
    reason=_("The weekdays on which time slots are generated"),
)
