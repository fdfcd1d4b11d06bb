"""The personal data of refunds: refunds and their bank details, transfer files, vouchers.

Seed 000: the museum e-mails the buyers of a cancelled visit to offer a refund and asks
for "the extra personal data needed to pay it", the bank account. Those bank details
(holder, IBAN, BIC) have their own rule: they are needed until the transfer is confirmed,
and are then blanked after a short margin (``REFUNDS_BANK_DETAILS_MARGIN_DAYS``, 30 days
by default) that leaves time for a transfer the bank sends back. The SEPA files hold the
same names and IBANs, so their XML is blanked on the same clock once the file is paid;
the batch's count and total stay for the accounts. The refund itself (amounts, dates,
status) is an accounting record kept like the order; the reasons written by the buyer
or by staff are blanked with the order's anonymisation.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce, Now
from django.utils.translation import gettext_lazy as _

from privacy import purposes
from privacy.declarations import (
    Category,
    DataSubject,
    Erasure,
    Hold,
    LegalBasis,
    PersonLink,
    Purpose,
    Recipient,
)
from privacy.registry import Retention, not_personal, register
from privacy.retention import EndAction, RetentionKind, RetentionRule
from refunds.models import (
    Campaign,
    CampaignOrder,
    CardExtension,
    Refund,
    ResellerNotice,
    TransferBatch,
    Voucher,
)

# Days bank details and transfer files are kept once the refund is paid (or closed).
BANK_DETAILS_MARGIN_DAYS: int = getattr(settings, "REFUNDS_BANK_DETAILS_MARGIN_DAYS", 30)

# To move to privacy.purposes with the other purposes and recipients (one description each).
REFUNDS = Purpose(
    code="refunds",
    title=_("Refunds of cancelled visits"),
    description=_(
        "To offer you a refund, another date or a voucher when the museum cancels your "
        "visit or accepts your request to cancel it, and to pay the refund back: to your "
        "card through the payment provider, or by bank transfer to the account you give "
        "for it. Your bank details are used for that transfer only."
    ),
    position=32,
)
MUSEUM_BANK = Recipient(
    code="museum_bank",
    name=_("The museum's bank"),
    role=_(
        "pays refunds by bank transfer: receives the account holder's name, the IBAN, the "
        "BIC, the amount and the order's code"
    ),
)

ORDER_LINK = PersonLink(email="order__buyer__email", user="order__user")
REFUND_TRANSACTIONS = ("created_at", "closed_at")
OPEN_REFUND = (
    Refund.Status.REQUESTED,
    Refund.Status.OFFERED,
    Refund.Status.APPROVED,
    Refund.Status.SENT,
    Refund.Status.FAILED,
)


def _refund_open(now: dt.datetime) -> Q:
    """Refunds still running: asked for, offered, owed, sent or to be tried again."""
    return Q(status__in=OPEN_REFUND)


REFUND_OPEN = Hold(
    code="refund_open",
    reason=_("A refund not yet paid or closed: the details are needed to pay it"),
    rows=_refund_open,
)

register(
    Refund,
    fields=[
        "origin",
        "status",
        "method",
        "choice",
        "chosen_by_default",
        "paid_cents",
        "fee_cents",
        "amount_cents",
        "currency",
        "buyer_reason",
        "staff_reason",
        "provider_reference",
        "failure",
        "created_at",
        "approved_at",
        "sent_at",
        "succeeded_at",
        "failed_at",
        "closed_at",
    ],
    link=ORDER_LINK,
    category=[Category.ORDER, Category.PAYMENT, Category.FREE_TEXT],
    subjects=[DataSubject.BUYERS],
    purpose=REFUNDS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER, purposes.STRIPE, MUSEUM_BANK],
    retention=Retention.years_after_last_activity(
        5, activity=REFUND_TRANSACTIONS, then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise(
        {"buyer_reason": "", "staff_reason": ""},
        keeps=_(
            "The refund's amounts, dates and status stay in the accounts, as accounting law "
            "requires, without the reasons written by you or by the staff"
        ),
    ),
    export=("order__code",),
    holds=[REFUND_OPEN],
    source=_("You (your reason for asking), and the museum's staff (their answer)"),
)

# The bank details: needed until the transfer is confirmed, then blanked after a margin
# for a transfer the bank sends back. ``bank_details_erased_at`` records when (kept as it
# was on a rerun: Coalesce makes an already erased row match its replacement).
register(
    Refund,
    key="refunds.refund:bank_details",
    label=_("Bank details given for a refund"),
    fields=["account_holder", "iban", "bic", "bank_details_at", "bank_details_erased_at"],
    rows=Q(bank_details_at__isnull=False),
    link=ORDER_LINK,
    category=[Category.IDENTITY, Category.PAYMENT],
    subjects=[DataSubject.BUYERS],
    purpose=REFUNDS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, MUSEUM_BANK],
    retention=RetentionRule(
        kind=RetentionKind.UNTIL_REFUND_PAID,
        then=EndAction.ANONYMISE,
        anchor=("succeeded_at", "closed_at"),
        days=BANK_DETAILS_MARGIN_DAYS,
    ),
    erasure=Erasure.anonymise(
        {
            "account_holder": "",
            "iban": "",
            "bic": "",
            "bank_details_erased_at": Coalesce("bank_details_erased_at", Now()),
        },
        keeps=_("The refund stays in the accounts, without the account it was paid to"),
    ),
    export=("order__code",),
    holds=[REFUND_OPEN],
    source=_("You, on the refund page"),
)

# The staff member who approved or refused a refund: their own work record.
register(
    Refund,
    key="refunds.refund:decided_by",
    label=_("Refunds decided by a staff member"),
    fields=["decided_by", "approved_at"],
    link=PersonLink(user="decided_by"),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who approved or refused which refund, to check the money paid back and "
        "prevent fraud"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(7, of="created_at", then=EndAction.ANONYMISE),
    erasure=Erasure.anonymise({"decided_by": None}),
)


def _batch_not_paid(now: dt.datetime) -> Q:
    return Q(status=TransferBatch.Status.EXPORTED)


# A SEPA file names every creditor and their IBAN. Once paid (plus the margin) the XML is
# blanked; the batch's count, total and dates stay for the accounts.
register(
    TransferBatch,
    label=_("Bank transfer files"),
    fields=["xml"],
    link=PersonLink(email="refunds__order__buyer__email", user="refunds__order__user"),
    category=[Category.IDENTITY, Category.PAYMENT],
    subjects=[DataSubject.BUYERS],
    purpose=REFUNDS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, MUSEUM_BANK],
    retention=RetentionRule(
        kind=RetentionKind.UNTIL_REFUND_PAID,
        then=EndAction.ANONYMISE,
        anchor=("paid_at",),
        days=BANK_DETAILS_MARGIN_DAYS,
    ),
    erasure=Erasure.anonymise(
        {"xml": ""},
        keeps=_(
            "The file's number of transfers and total stay in the accounts, without the "
            "names and accounts it paid"
        ),
    ),
    holds=[
        Hold(
            code="batch_not_paid",
            reason=_("A transfer file the bank has not paid yet"),
            rows=_batch_not_paid,
        )
    ],
    source=_("Written by the museum from the bank details you gave"),
)

register(
    TransferBatch,
    key="refunds.transferbatch:staff",
    label=_("Bank transfer files exported or settled by a staff member"),
    fields=["created_by", "paid_by", "created_at", "paid_at"],
    link=PersonLink(user=("created_by", "paid_by")),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who sent which transfer file to the bank and who confirmed its payment, "
        "to check the money paid back and prevent fraud"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(7, of="created_at", then=EndAction.ANONYMISE),
    erasure=Erasure.anonymise({"created_by": None, "paid_by": None}),
)
not_personal(
    TransferBatch,
    ["message_id"],
    reason=_("A generated identifier of the file (date, time and random characters)"),
)

register(
    Voucher,
    fields=["code", "email", "language", "amount_cents", "balance_cents", "valid_until"],
    link=PersonLink(email=("email", "refund__order__buyer__email"), user="refund__order__user"),
    category=[Category.CONTACT, Category.PREFERENCES, Category.ORDER],
    subjects=[DataSubject.BUYERS],
    purpose=REFUNDS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.years_after_last_activity(
        5, activity=("created_at", "valid_until"), then=EndAction.ANONYMISE
    ),
    erasure=Erasure.anonymise(
        {"email": ""},
        keeps=_(
            "The voucher's code, value and balance stay: whoever holds the code can still spend it"
        ),
    ),
)

register(
    CampaignOrder,
    label=_("Orders affected by a cancellation"),
    fields=["campaign", "status", "processed_at"],
    link=ORDER_LINK,
    category=[Category.ORDER],
    subjects=[DataSubject.BUYERS],
    purpose=REFUNDS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.follows("order"),
    erasure=Erasure.keep(
        reason=_(
            "A line of the cancellation's progress holds no name or address; once the order "
            "is anonymised it no longer identifies anyone"
        )
    ),
    export=("order__code", "campaign__reason"),
)

register(
    CardExtension,
    fields=["card", "days", "valid_until_before", "valid_until_after", "created_at"],
    link=PersonLink(email="card__holder_email", user="card__holder"),
    category=[Category.CARD],
    subjects=[DataSubject.CARD_HOLDERS],
    purpose=purposes.MUSEUM_CARD,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.follows("card"),
    erasure=Erasure.keep(
        reason=_(
            "An extension of a card's validity holds no name; once the card is anonymised "
            "it no longer identifies anyone"
        )
    ),
    export=("card__number",),
)


def _recent_notice(now: dt.datetime) -> Q:
    return Q(created_at__gte=now - dt.timedelta(days=30))


register(
    ResellerNotice,
    label=_("Cancellations reported to resellers"),
    fields=["kind", "payload", "delivered_at", "created_at"],
    link=ORDER_LINK,
    category=[Category.ORDER],
    subjects=[DataSubject.BUYERS],
    purpose=purposes.TICKET_SALES,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.RESELLERS],
    # The reseller reads a notice through the API or its webhook within days; a year
    # covers their reconciliation.
    retention=Retention.days_after(365, of="created_at"),
    erasure=Erasure.delete(),
    holds=[
        Hold(
            code="notice_recent",
            reason=_("A cancellation the reseller may still have to fetch (last 30 days)"),
            rows=_recent_notice,
        )
    ],
    source=_("The reseller you bought from (its order reference), and the museum"),
)

register(
    Campaign,
    key="refunds.campaign:created_by",
    label=_("Cancellations created by a staff member"),
    fields=["created_by", "created_at"],
    link=PersonLink(user="created_by"),
    category=[Category.STAFF_WORK],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Knowing who cancelled which visits, to answer the visitors and check the refunds"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(7, of="created_at", then=EndAction.ANONYMISE),
    erasure=Erasure.anonymise({"created_by": None}),
)
not_personal(
    Campaign,
    ["reason"],
    reason=_("Why the museum cancels, as told to every visitor (e.g. 'a burst water pipe')"),
)
