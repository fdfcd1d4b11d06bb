"""The personal data the shared parts hold: the e-mail outbox and the audit trail.

Outgoing e-mails are kept three months: long enough to resend a lost message and answer
"did you send it?", short enough not to become a second copy of every order. The audit
trail keeps staff sign-ins (with the client's IP address) one year and the rest five
years after the end of their calendar year.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from museum.models import AuditEvent, Closure, OutboxEmail, Site
from privacy import purposes
from privacy.declarations import Category, DataSubject, Erasure, GenericRef, LegalBasis, PersonLink
from privacy.registry import Retention, not_personal, register

STAFF_SIGN_INS = Q(action__startswith="staff.")
AUDIT_INTEREST = _(
    "Proving who did what with money, ticket validity and personal data, and detecting abuse"
)
AUDIT_KEPT = _(
    "The audit trail is append-only: it proves how money, tickets and personal data were "
    "handled, and is kept for its retention period"
)

register(
    OutboxEmail,
    label=_("E-mails sent to you"),
    fields=[
        "to",
        "language",
        "subject",
        "body_text",
        "body_html",
        "attachments",
        "template",
        "context_ref",
        "status",
        "sent_at",
        "provider_message_id",
        "last_error",
        "created_at",
    ],
    link=PersonLink(email="to"),
    category=[Category.CONTACT, Category.CORRESPONDENCE],
    subjects=[DataSubject.BUYERS, DataSubject.ACCOUNT_HOLDERS, DataSubject.CARD_HOLDERS],
    purpose=purposes.SERVICE_EMAIL,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING, purposes.MAIL_PROVIDER],
    retention=Retention.days_after(90, of="created_at"),
    erasure=Erasure.delete(),
)

register(
    AuditEvent,
    label=_("Audit trail"),
    fields=["occurred_at", "actor", "actor_label", "action", "subject_type", "subject_id", "data"],
    link=PersonLink(
        user="actor",
        email="data__email",
        generic=GenericRef(type_field="subject_type", id_field="subject_id"),
    ),
    rows=~STAFF_SIGN_INS,
    category=[Category.AUDIT],
    subjects=[DataSubject.BUYERS, DataSubject.ACCOUNT_HOLDERS, DataSubject.STAFF],
    purpose=purposes.SECURITY,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=AUDIT_INTEREST,
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(5, of="occurred_at"),
    erasure=Erasure.keep(reason=AUDIT_KEPT),
)

register(
    AuditEvent,
    key="museum.auditevent:staff_sign_in",
    label=_("Staff sign-ins"),
    fields=["occurred_at", "actor", "actor_label", "action", "subject_type", "subject_id", "data"],
    link=PersonLink(
        user="actor",
        email="data__email",
        generic=GenericRef(type_field="subject_type", id_field="subject_id"),
    ),
    rows=STAFF_SIGN_INS,
    category=[Category.SECURITY],
    subjects=[DataSubject.STAFF],
    purpose=purposes.SECURITY,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_("Protecting the back office and visitors' data from unauthorised access"),
    recipients=[purposes.HOSTING],
    retention=Retention.days_after(365, of="occurred_at"),
    erasure=Erasure.keep(reason=AUDIT_KEPT),
)

not_personal(
    Site,
    ["name", "description", "address"],
    reason=_("The museum's own sites: their public names, descriptions and addresses"),
)
not_personal(Closure, ["reason"], reason=_("The public reason a site is closed"))
