"""The personal data in Django's and allauth's own tables, declared where we cannot edit them.

Sessions hold who is signed in (inside signed data, so they are found by decoding);
allauth keeps the account's e-mail address, its confirmation records and the staff's
second factor; the admin keeps a log of the staff's changes, whose ``object_repr`` is the
changed row's name (often an e-mail address). Imported by ``privacy.apps``.
"""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.contrib.sites.models import Site as DjangoSite
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from privacy import purposes
from privacy.declarations import (
    Category,
    DataSubject,
    Erasure,
    Export,
    GenericRef,
    LegalBasis,
    Person,
    PersonLink,
)
from privacy.registry import Retention, not_personal, register

# Never handed out: a session's proof of the password, which would let a copy sign in.
SESSION_SECRETS = frozenset({"_auth_user_hash"})


def sessions_of(person: Person) -> QuerySet[Session]:
    """The sessions signed in to the person's account (two queries, whatever the count).

    A session's user is inside its signed data: every stored session is decoded once,
    streamed so that memory stays flat.
    """
    if person.user_id is None:
        return Session.objects.none()
    wanted = str(person.user_id)
    keys = [
        session.session_key
        for session in Session.objects.only("session_key", "session_data").iterator(chunk_size=2000)
        if str(session.get_decoded().get("_auth_user_id", "")) == wanted
    ]
    return Session.objects.filter(session_key__in=keys)


def session_export(sessions: QuerySet[Session]) -> list[dict[str, Any]]:
    """The sessions without their key (it is the cookie: a copy would sign in)."""
    return [
        {
            "expire_date": session.expire_date,
            "session_data": {
                key: value
                for key, value in session.get_decoded().items()
                if key not in SESSION_SECRETS
            },
        }
        for session in sessions
    ]


register(
    Session,
    label=_("Signed-in sessions"),
    fields=["session_data", "expire_date"],
    link=PersonLink(match=sessions_of),
    category=[Category.SECURITY],
    subjects=[DataSubject.ACCOUNT_HOLDERS, DataSubject.STAFF],
    purpose=purposes.SECURITY,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.until_expiry(expires="expire_date"),
    erasure=Erasure.delete(),
    export=session_export,
)

register(
    EmailAddress,
    label=_("Account e-mail addresses"),
    fields=["email", "user", "verified", "primary"],
    link=PersonLink(email="email", user="user"),
    category=[Category.CONTACT, Category.ACCOUNT],
    subjects=[DataSubject.ACCOUNT_HOLDERS, DataSubject.STAFF],
    purpose=purposes.ACCOUNTS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.while_account_exists(),
    erasure=Erasure.delete(),
)

register(
    EmailConfirmation,
    label=_("E-mail address confirmations"),
    fields=["email_address", "created", "sent"],
    link=PersonLink(email="email_address__email", user="email_address__user"),
    category=[Category.ACCOUNT],
    subjects=[DataSubject.ACCOUNT_HOLDERS],
    purpose=purposes.ACCOUNTS,
    legal_basis=LegalBasis.CONTRACT,
    recipients=[purposes.HOSTING],
    retention=Retention.days_after(
        getattr(settings, "ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS", 3), of="created"
    ),
    erasure=Erasure.delete(),
)

register(
    Authenticator,
    label=_("Second sign-in factors"),
    fields=["user", "type", "data", "created_at", "last_used_at"],
    link=PersonLink(user="user"),
    category=[Category.SECURITY],
    subjects=[DataSubject.STAFF, DataSubject.ACCOUNT_HOLDERS],
    purpose=purposes.SECURITY,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_("Protecting the back office and visitors' data from unauthorised access"),
    recipients=[purposes.HOSTING],
    retention=Retention.while_account_exists(),
    erasure=Erasure.delete(),
    export=Export(
        withhold=(
            (
                "data",
                _(
                    "The authenticator's secret and recovery codes are never shown: a copy "
                    "would let someone sign in"
                ),
            ),
        )
    ),
)

register(
    LogEntry,
    label=_("Admin change log"),
    fields=[
        "user",
        "action_time",
        "content_type",
        "object_id",
        "object_repr",
        "action_flag",
        "change_message",
    ],
    link=PersonLink(
        user="user",
        generic=GenericRef(type_field="content_type", id_field="object_id", content_type=True),
    ),
    category=[Category.AUDIT, Category.STAFF_WORK],
    subjects=[DataSubject.STAFF, DataSubject.ACCOUNT_HOLDERS, DataSubject.BUYERS],
    purpose=purposes.SECURITY,
    legal_basis=LegalBasis.LEGITIMATE_INTEREST,
    legitimate_interest=_(
        "Proving who did what with money, ticket validity and personal data, and detecting abuse"
    ),
    recipients=[purposes.HOSTING],
    retention=Retention.years_after_year_end(5, of="action_time"),
    erasure=Erasure.anonymise(
        {"object_repr": ""},
        keeps=_("Who changed which record and when stays, for the audit"),
    ),
)

# Django's catalogue of roles and rights, and the site's own domain name.
not_personal(Permission, ["name", "codename"], reason=_("The names of the staff's permissions"))
not_personal(Group, ["name"], reason=_("The names of the staff groups (roles)"))
not_personal(DjangoSite, ["name"], reason=_("The website's own name"))
