"""The value types of a privacy declaration (see ``privacy.registry``).

Categories of data, legal bases, data subjects, purposes and recipients, how a row is
linked to a person (``PersonLink``, ``Person``, ``GenericRef``), what an erasure does
(``Erasure``), how rows are exported (``Export``), legal holds (``Hold``) and the
``Declaration`` that gathers them for one model, with the model path helpers they use.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from privacy.retention import RetentionKind, RetentionRule

__all__ = [
    "Category",
    "DataSubject",
    "Declaration",
    "Erasure",
    "ErasureKind",
    "Export",
    "GenericRef",
    "Hold",
    "LegalBasis",
    "Person",
    "PersonLink",
    "Purpose",
    "Recipient",
    "Text",
]

Text = str | Promise  # a plain or a lazily translated text


class Category(models.TextChoices):
    """Categories of personal data, as the notice and the record of processing name them."""

    IDENTITY = "identity", _("Name")
    CONTACT = "contact", _("Contact details (e-mail address, phone, postal address)")
    BIRTH_YEAR = "birth_year", _("Year of birth")
    PREFERENCES = "preferences", _("Language and communication preferences")
    ACCOUNT = "account", _("Account and sign-in data (identifiers, password hash, sign-in times)")
    ORDER = "order", _("Orders, tickets and purchase history")
    PAYMENT = "payment", _("Payment references and amounts (card numbers are never stored)")
    VISIT = "visit", _("Visits (admissions at the entrance, museum-card visits)")
    CARD = "card", _("Museum card (number, validity, gift details)")
    FREE_TEXT = "free_text", _("Messages written by you or for you (gift greeting, reasons)")
    CONSENT = "consent", _("Records of consents and withdrawals")
    REQUEST = "request", _("Requests about your data")
    CORRESPONDENCE = "correspondence", _("E-mails sent to you")
    SECURITY = "security", _("Security records (sessions, second factor, IP address at sign-in)")
    AUDIT = "audit", _("Audit trail of actions on money, tickets and personal data")
    STAFF_WORK = "staff_work", _("Staff work records (who sold or admitted what, and when)")
    BUSINESS_CONTACT = "business_contact", _("Business contact details of partners")


class LegalBasis(models.TextChoices):
    """The lawful bases of Art. 6(1) GDPR that the museum relies on."""

    CONTRACT = "contract", _("Performance of a contract (Art. 6(1)(b) GDPR)")
    CONSENT = "consent", _("Consent (Art. 6(1)(a) GDPR)")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c) GDPR)")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (Art. 6(1)(f) GDPR)")


class DataSubject(models.TextChoices):
    """Categories of people whose data is processed (Art. 30(1)(c))."""

    BUYERS = "buyers", _("Visitors who buy tickets or museum cards, with or without an account")
    ACCOUNT_HOLDERS = "account_holders", _("Holders of a visitor account")
    CARD_HOLDERS = "card_holders", _("Museum card holders")
    GIFT_RECIPIENTS = "gift_recipients", _("People who receive a museum card as a gift")
    SUBSCRIBERS = "subscribers", _("Newsletter subscribers")
    STAFF = "staff", _("Staff members")
    BUSINESS_CONTACTS = "business_contacts", _("Contacts at partner organisations (resellers)")
    WEBSITE_USERS = "website_users", _("Visitors of the website")


@dataclass(frozen=True)
class Purpose:
    """A processing activity: one line of the record of processing, one section of the notice.

    ``position`` orders the sections; ``code`` is stable (reports, tests, the admin).
    """

    code: str
    title: Text
    description: Text
    position: int = 100


@dataclass(frozen=True)
class Recipient:
    """Who receives personal data: a processor, a partner or an authority.

    ``transfer`` says where data leaves the EU/EEA and under which safeguard; empty when
    it does not.
    """

    code: str
    name: Text
    role: Text
    transfer: Text = ""


@dataclass(frozen=True)
class Person:
    """The person a bundle or an erasure is about: their e-mail addresses and account.

    Addresses are kept in lower case; rows match case-insensitively.
    """

    emails: frozenset[str]
    user_id: int | None = None

    @classmethod
    def of(cls, *, email: str | None, user: Any = None) -> Person:
        """The person known by ``email`` and, when given, by the account ``user``.

        An account adds its own address: its holder proved both when signing in.
        """
        addresses = {a.strip().lower() for a in (email, getattr(user, "email", None)) if a}
        addresses.discard("")
        user_id = getattr(user, "pk", None) if user is not None else None
        return cls(emails=frozenset(addresses), user_id=user_id)

    def matching(
        self, *, email: str | Iterable[str] = (), user: str | Iterable[str] = ()
    ) -> Q | None:
        """The rows whose ``email`` paths hold one of the person's addresses (any case) or
        whose ``user`` paths point at their account; None when nothing can match."""
        clauses = [
            Q(**{f"{path}__iexact": address})
            for path in _strings(email)
            for address in sorted(self.emails)
        ]
        if self.user_id is not None:
            clauses.extend(Q(**{path: self.user_id}) for path in _strings(user))
        if not clauses:
            return None
        combined = clauses[0]
        for clause in clauses[1:]:
            combined |= clause
        return combined


@dataclass(frozen=True)
class GenericRef:
    """A row pointing at any other row by (type, id): an audit event's subject.

    ``type_field`` holds either a model label (``ticketing.order``) or, with
    ``content_type=True``, a foreign key to ContentType; ``id_field`` the id as text.
    The row belongs to a person when it points at any declared row of that person.
    """

    type_field: str
    id_field: str
    content_type: bool = False


@dataclass(frozen=True)
class PersonLink:
    """How a row is linked to a person.

    - ``email``: lookup paths to an e-mail address (``card__holder_email``); a JSON key
      path works too (``data__email``). Matched case-insensitively.
    - ``user``: lookup paths to the person's account (``user``, ``order__user``), or
      ``pk`` on the account model itself.
    - ``generic``: the row points at another declared row (audit events, admin log).
    - ``q``: a callable(person) returning a Q (or None) for links the paths cannot say,
      e.g. a subquery on another table's values.
    - ``match``: a callable(person) returning a queryset, for links that only Python can
      decide (a session's user is inside its signed data). Use it only when nothing else
      can: such rows cannot be found from other declarations.
    """

    email: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    generic: GenericRef | None = None
    q: Callable[[Person], Q | None] | None = None
    match: Callable[[Person], models.QuerySet] | None = None

    def __init__(
        self,
        *,
        email: str | Iterable[str] = (),
        user: str | Iterable[str] = (),
        generic: GenericRef | None = None,
        q: Callable[[Person], Q | None] | None = None,
        match: Callable[[Person], models.QuerySet] | None = None,
    ) -> None:
        object.__setattr__(self, "email", _strings(email))
        object.__setattr__(self, "user", _strings(user))
        object.__setattr__(self, "generic", generic)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "match", match)

    @property
    def is_sql(self) -> bool:
        """True when the link is a WHERE clause (it can be a subquery of another link)."""
        return self.match is None


class ErasureKind(enum.StrEnum):
    DELETE = "delete"
    ANONYMISE = "anonymise"
    KEEP = "keep"


@dataclass(frozen=True)
class Erasure:
    """What erasing a person does to the rows of one declaration.

    ``replacements`` (field, value) are constants or query expressions, applied with one
    UPDATE. ``reason`` says why rows or fields are kept (KEEP; what ANONYMISE keeps).
    ``effects`` say what else happens to the person (their card stops being valid).
    ``hook`` is the dotted path of a callable(rows, *, now) run before the rows change,
    for the effects that are a service of the app (ending a card).
    """

    kind: ErasureKind
    replacements: tuple[tuple[str, Any], ...] = ()
    reason: Text = ""
    effects: tuple[Text, ...] = ()
    hook: str = ""

    @staticmethod
    def delete(*, effects: Iterable[Text] = (), hook: str = "") -> Erasure:
        return Erasure(kind=ErasureKind.DELETE, effects=tuple(effects), hook=hook)

    @staticmethod
    def anonymise(
        fields: Mapping[str, Any],
        *,
        keeps: Text = "",
        effects: Iterable[Text] = (),
        hook: str = "",
    ) -> Erasure:
        """Overwrite ``fields`` with their replacement; the row stays (``keeps`` says why)."""
        return Erasure(
            kind=ErasureKind.ANONYMISE,
            replacements=tuple(fields.items()),
            reason=keeps,
            effects=tuple(effects),
            hook=hook,
        )

    @staticmethod
    def keep(*, reason: Text) -> Erasure:
        """The rows stay untouched for a stated legal reason (Art. 17(3) GDPR)."""
        return Erasure(kind=ErasureKind.KEEP, reason=reason)

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self.replacements)

    @property
    def description(self) -> str:
        """What an erasure does, in words, in the active language."""
        if self.kind is ErasureKind.DELETE:
            text = gettext("Deleted")
        elif self.kind is ErasureKind.ANONYMISE:
            text = gettext("Anonymised")
        else:
            text = gettext("Kept")
        parts = [text]
        if self.reason:
            parts.append(str(self.reason))
        parts.extend(str(effect) for effect in self.effects)
        return ". ".join(p.rstrip(".") for p in parts) + "."


@dataclass(frozen=True)
class Export:
    """How a declaration's rows go into a person's access bundle.

    By default each row gives its declared fields. ``context`` adds lookups that make the
    row readable (``ticket_type__name``); ``withhold`` names declared fields that are
    never handed out, with the reason (a password hash, a second-factor secret); ``rows``
    replaces the query with a callable(queryset) returning one dict per row.
    """

    context: tuple[str, ...] = ()
    withhold: tuple[tuple[str, Text], ...] = ()
    rows: Callable[[models.QuerySet], list[dict[str, Any]]] | None = None

    @property
    def withheld(self) -> dict[str, Text]:
        return dict(self.withhold)


@dataclass(frozen=True)
class Hold:
    """A reason that stops retention or erasure for some rows, e.g. an order still open.

    ``rows`` is a callable(now) returning the Q of the rows held at ``now``.
    """

    code: str
    reason: Text
    rows: Callable[[dt.datetime], Q]


@dataclass(frozen=True, eq=False)
class Declaration:
    """The personal data of one model (or of some of its rows), for one purpose."""

    key: str
    model: type[models.Model]
    fields: tuple[str, ...]
    link: PersonLink
    categories: tuple[Category, ...]
    subjects: tuple[DataSubject, ...]
    purpose: Purpose
    legal_basis: LegalBasis
    recipients: tuple[Recipient, ...]
    retention: RetentionRule
    erasure: Erasure
    export: Export = field(default_factory=Export)
    legitimate_interest: Text = ""
    rows: Q | None = None
    holds: tuple[Hold, ...] = ()
    source: Text = ""
    label: Text = ""
    # The lookup of the row's site, for per-site retention values: "site" when the model
    # has one; a path (e.g. "order__site") for a row whose site is its parent's.
    site: str | None = None

    @property
    def model_label(self) -> str:
        return self.model._meta.label_lower

    @property
    def title(self) -> str:
        """What the rows are, in words (the model's plural name unless a label is given)."""
        return capfirst(str(self.label or self.model._meta.verbose_name_plural))

    @property
    def retention_description(self) -> str:
        """The retention in words, naming the record a FOLLOWS rule goes with."""
        rule = self.retention
        if rule.kind is RetentionKind.FOLLOWS and rule.anchor:
            target = _resolve(self.model, rule.anchor[0])
            related = getattr(target, "related_model", None)
            if related is not None:
                return rule.describe(parent=str(related._meta.verbose_name))
        return rule.description

    @cached_property
    def link_crosses_many(self) -> bool:
        """True when a link path goes through a one-to-many relation (rows may repeat)."""
        paths = [*self.link.email, *self.link.user]
        return any(_path_is_multivalued(self.model, path) for path in paths)

    def export_fields(self) -> list[str]:
        """The lookups a bundle row holds: declared fields (not withheld), then context."""
        withheld = self.export.withheld
        names = ["pk"] + [name for name in self.fields if name not in withheld]
        return names + [name for name in self.export.context if name not in names]


def _concrete_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not getattr(model_field, "concrete", False) or model_field.many_to_many:
        return None
    return model_field  # type: ignore[return-value]


def _resolve(model: type[models.Model], path: str) -> Any:
    """The field at the end of a lookup path (``order__user``), None if it does not exist.

    A path into a JSONField resolves to the JSONField (the rest are keys).
    """
    current = model
    parts = path.split("__")
    for index, part in enumerate(parts):
        if part == "pk":
            part = current._meta.pk.name
        try:
            model_field = current._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if isinstance(model_field, models.JSONField):
            return model_field
        if index == len(parts) - 1:
            return model_field
        related = getattr(model_field, "related_model", None)
        if related is None:
            return None
        current = related
    return None


def _path_is_multivalued(model: type[models.Model], path: str) -> bool:
    current = model
    for part in path.split("__"):
        try:
            model_field = current._meta.get_field("id" if part == "pk" else part)
        except FieldDoesNotExist:
            return False
        if model_field.one_to_many or model_field.many_to_many:
            return True
        related = getattr(model_field, "related_model", None)
        if related is None:
            return False
        current = related
    return False


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
