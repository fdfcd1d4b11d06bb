"""The personal data the privacy app itself keeps: requests, restrictions, staff traces.

Subject requests are evidence that the museum answered a person's rights (Art. 5(2),
12 GDPR): they are kept five years after the end of the calendar year they were closed
in, then deleted with their trail. Restrictions and objections last as long as they are in force, and
a lifted one is kept as proof for the same period. Purge runs, retention settings and
erasure records hold no data about visitors: only which staff member acted, and, for
erasures, a keyed hash instead of the person's address.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from privacy import purposes
from privacy.declarations import Category, DataSubject, Erasure, LegalBasis, PersonLink, Purpose
from privacy.models import (
    ConsentRecord,
    ErasureRecord,
    PageViewDay,
    ProcessingRestriction,
    PurgeRun,
    RetentionSetting,
    SubjectRequest,
    SubjectRequestEvent,
    TrackerSetting,
)
from privacy.registry import Retention, not_personal, register

REQUESTS_KEPT = _(
    "Proof that the museum answered the request (GDPR accountability), until the period ends"
)

register(
    SubjectRequest,
    fields=[
        "kind",
        "email",
        "user",
        "language",
        "message",
        "status",
        "verified_at",
        "due_on",
        "extended_to",
        "extension_reason",
        "closed_at",
        "outcome",
        "created_at",
    ],
    link=PersonLink(email="email", user="user"),
    category=[Category.IDENTITY, Category.CONTACT, Category.CONSENT],
    subjects=[DataSubject.BUYERS, DataSubject.ACCOUNT_HOLDERS, DataSubject.CARD_HOLDERS],
    purpose=purposes.PRIVACY_REQUESTS,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    # Counted from the closing: an open request has no date yet and is never due.
    retention=Retention.years_after_year_end(5, of="closed_at"),
    erasure=Erasure.keep(reason=REQUESTS_KEPT),
)

register(
    SubjectRequest,
    key="privacy.subjectrequest:assignee",
    label=_("Subject requests handled by a staff member"),
    fields=["assignee"],
    link=PersonLink(user="assignee"),
    category=[Category.AUDIT],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(5, of="created_at"),
    erasure=Erasure.keep(reason=REQUESTS_KEPT),
)

register(
    SubjectRequestEvent,
    fields=["at", "actor", "action", "note"],
    link=PersonLink(user="actor", email="request__email"),
    category=[Category.AUDIT],
    subjects=[DataSubject.BUYERS, DataSubject.STAFF],
    purpose=purposes.PRIVACY_REQUESTS,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING],
    retention=Retention.follows("request"),
    erasure=Erasure.keep(reason=REQUESTS_KEPT),
)

register(
    ProcessingRestriction,
    fields=["email", "user", "kind", "created_at", "lifted_at"],
    link=PersonLink(email="email", user="user"),
    category=[Category.CONTACT, Category.CONSENT],
    subjects=[DataSubject.BUYERS, DataSubject.ACCOUNT_HOLDERS, DataSubject.SUBSCRIBERS],
    purpose=purposes.PRIVACY_REQUESTS,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING],
    # Counted from the lifting: one still in force has no date yet and is never due.
    retention=Retention.years_after_year_end(5, of="lifted_at"),
    erasure=Erasure.keep(
        reason=_("Kept so that the restriction or objection is still respected after erasure")
    ),
)

register(
    PurgeRun,
    fields=["triggered_by"],
    link=PersonLink(user="triggered_by"),
    category=[Category.AUDIT],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(5, of="started_at"),
    erasure=Erasure.keep(reason=_("Proof that retention was enforced")),
)
not_personal(
    PurgeRun,
    ["cursor", "report", "error"],
    reason=_("Counts, primary keys and rule names of a purge run; no data about people"),
)

register(
    RetentionSetting,
    fields=["updated_by"],
    link=PersonLink(user="updated_by"),
    category=[Category.AUDIT],
    subjects=[DataSubject.STAFF],
    purpose=purposes.STAFF_WORK,
    legal_basis=LegalBasis.LEGAL_OBLIGATION,
    recipients=[purposes.HOSTING],
    retention=Retention.while_account_exists(),
    erasure=Erasure.anonymise({"updated_by": None}),
)

not_personal(
    ErasureRecord,
    ["plan"],
    reason=_(
        "Which rows were erased, by declaration and primary key; the person appears only as "
        "a keyed hash"
    ),
)

MARKETING_AND_COOKIES = Purpose(
    code="marketing_cookies",
    title=_("Offers by e-mail and optional cookies, with your consent"),
    description=_(
        "To send you offers and invitations to events if you asked for them, to use the "
        "optional cookies of the providers you accepted, and to keep the proof of each "
        "consent and of its withdrawal. You can withdraw as easily as you gave: on your "
        "account page, or under Cookie settings at the bottom of every page."
    ),
    position=55,
)

register(
    ConsentRecord,
    fields=[
        "email",
        "user",
        "consent_id",
        "purpose",
        "given",
        "wording",
        "wording_version",
        "language",
        "channel",
        "recorded_at",
    ],
    link=PersonLink(email="email", user="user"),
    category=[Category.CONTACT, Category.PREFERENCES, Category.CONSENT],
    subjects=[DataSubject.ACCOUNT_HOLDERS, DataSubject.WEBSITE_USERS],
    purpose=MARKETING_AND_COOKIES,
    legal_basis=LegalBasis.CONSENT,
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(5, of="recorded_at"),
    erasure=Erasure.anonymise(
        {"email": "", "user": None, "consent_id": ""},
        keeps=_("The wording, date and channel of each consent stay, without who gave it"),
        effects=[_("No offers are sent to you any more; optional cookies are asked again")],
    ),
)

not_personal(
    TrackerSetting,
    ["name", "script_url", "purpose", "is_active"],
    reason=_("Which third-party scripts the museum configured; no data about people"),
)

not_personal(
    PageViewDay,
    ["path", "day", "count"],
    reason=_(
        "Counts of views per page and day; identifiers in addresses are replaced by * and "
        "no IP address, browser or account is stored"
    ),
)
