"""The personal data of the newsletter: consents and withdrawals, with the wording shown.

Each consent is a row that is never rewritten (newsletter.services): the ledger is the
proof of consent (Art. 7(1) GDPR). It is kept while the person is subscribed, and a
withdrawal five years after the end of its calendar year; then, or on erasure, the rows
lose the address and name and keep only what was asked, when and through which channel.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from newsletter.models import NewsletterConsent
from privacy import purposes
from privacy.declarations import Category, DataSubject, Erasure, LegalBasis, PersonLink
from privacy.registry import Retention, register

register(
    NewsletterConsent,
    fields=[
        "email",
        "name",
        "language",
        "given",
        "wording",
        "wording_version",
        "source",
        "recorded_at",
        "user",
        "order",
    ],
    link=PersonLink(email="email", user="user"),
    category=[Category.IDENTITY, Category.CONTACT, Category.PREFERENCES, Category.CONSENT],
    subjects=[DataSubject.SUBSCRIBERS],
    purpose=purposes.NEWSLETTER,
    legal_basis=LegalBasis.CONSENT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.while_subscribed(proof_years=5, withdrawn="recorded_at"),
    erasure=Erasure.anonymise(
        {"email": "", "name": "", "user": None, "order": None},
        keeps=_("The wording, date and channel of each consent stay, without who gave it"),
        effects=[_("No newsletter is sent to you any more")],
    ),
)
