"""What personal data the platform holds: the declarations every app makes in ``privacy.py``.

An app declares, for each model that holds personal data, which fields, how a row is
linked to a person, the category of data, the purpose, the legal basis, the recipients,
the retention rule, what an erasure does and how the rows are exported::

    from privacy import purposes
    from privacy.registry import (
        Category, DataSubject, Erasure, LegalBasis, PersonLink, Retention, register,
    )

    register(
        Order,
        fields=["email", "name", "language", "user"],
        link=PersonLink(email="email", user="user"),
        category=[Category.IDENTITY, Category.CONTACT, Category.ORDER],
        subjects=[DataSubject.BUYERS],
        purpose=purposes.TICKET_SALES,
        legal_basis=LegalBasis.CONTRACT,
        recipients=[purposes.STRIPE, purposes.MAIL_PROVIDER],
        retention=Retention.years_after_last_activity(5),
        erasure=Erasure.anonymise({"email": "", "name": "", "user": None}),
    )

Fields that look personal but are not (the museum's own address) are declared with
``not_personal(model, fields, reason=...)``. Declarations are immutable; ``privacy.apps``
discovers every app's ``privacy.py`` as the admin discovers ``admin.py``, and
``privacy.checks`` validates them at start-up. The notice, the record of processing and
the access bundle are generated from them.
"""

from __future__ import annotations

import datetime as dt
import enum
import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from privacy.retention import EndAction, Retention, RetentionKind, RetentionRule

__all__ = [
    "Category",
    "DataSubject",
    "Declaration",
    "EndAction",
    "Erasure",
    "ErasureKind",
    "Export",
    "GenericRef",
    "Hold",
    "LegalBasis",
    "NotPersonal",
    "Person",
    "PersonLink",
    "PrivacyRegistry",
    "Purpose",
    "Recipient",
    "Retention",
    "RetentionKind",
    "RetentionRule",
    "not_personal",
    "register",
    "registry",
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


@dataclass(frozen=True)
class NotPersonal:
    """Fields that look personal to the coverage test but are not, and why."""

    model: type[models.Model]
    fields: tuple[str, ...]
    reason: Text


class AlreadyRegistered(ValueError):
    pass


class PrivacyRegistry:
    """All declarations of the running project (``registry``), or of a test's own."""

    def __init__(self) -> None:
        self._declarations: dict[str, Declaration] = {}
        self._not_personal: list[NotPersonal] = []

    # --- declaring ------------------------------------------------------------------------

    def register(
        self,
        model: type[models.Model],
        *,
        fields: Iterable[str],
        link: PersonLink,
        category: Category | Iterable[Category],
        subjects: Iterable[DataSubject],
        purpose: Purpose,
        legal_basis: LegalBasis,
        retention: RetentionRule,
        erasure: Erasure,
        recipients: Iterable[Recipient] = (),
        export: Export | Iterable[str] | Callable[[models.QuerySet], list[dict]] | None = None,
        legitimate_interest: Text = "",
        rows: Q | None = None,
        holds: Iterable[Hold] = (),
        source: Text = "",
        label: Text = "",
        key: str | None = None,
    ) -> Declaration:
        """Declare the personal data of ``model``; returns the immutable declaration.

        ``key`` names the declaration (default: the model's label); a model declared
        twice (e.g. its buyer's data and its staff's) needs a key for the second one.
        ``export`` is an Export, a list of context lookups, or a callable(queryset).
        Raises: AlreadyRegistered for a key declared before.
        """
        key = key or model._meta.label_lower
        if key in self._declarations:
            raise AlreadyRegistered(f"The privacy declaration {key!r} is made twice.")
        declaration = Declaration(
            key=key,
            model=model,
            fields=_strings(fields),
            link=link,
            categories=(category,) if isinstance(category, Category) else tuple(category),
            subjects=tuple(subjects),
            purpose=purpose,
            legal_basis=legal_basis,
            recipients=tuple(recipients),
            retention=retention,
            erasure=erasure,
            export=_export(export),
            legitimate_interest=legitimate_interest,
            rows=rows,
            holds=tuple(holds),
            source=source,
            label=label,
        )
        self._declarations[key] = declaration
        return declaration

    def not_personal(
        self, model: type[models.Model], fields: Iterable[str], *, reason: Text
    ) -> NotPersonal:
        """Declare fields of ``model`` that look personal but are not, saying why."""
        entry = NotPersonal(model=model, fields=_strings(fields), reason=reason)
        self._not_personal.append(entry)
        return entry

    # --- reading --------------------------------------------------------------------------

    @property
    def declarations(self) -> tuple[Declaration, ...]:
        return tuple(self._declarations.values())

    @property
    def not_personal_entries(self) -> tuple[NotPersonal, ...]:
        return tuple(self._not_personal)

    def get(self, key: str) -> Declaration:
        return self._declarations[key]

    def for_model(self, model: type[models.Model]) -> list[Declaration]:
        return [d for d in self._declarations.values() if d.model is model]

    def purposes(self) -> list[Purpose]:
        """Every declared purpose once, in the order of their ``position``."""
        seen: dict[str, Purpose] = {}
        for declaration in self._declarations.values():
            seen.setdefault(declaration.purpose.code, declaration.purpose)
        return sorted(seen.values(), key=lambda p: (p.position, p.code))

    def covered_fields(self) -> dict[str, set[str]]:
        """model label -> every field declared, personal or not."""
        covered: dict[str, set[str]] = {}
        for declaration in self._declarations.values():
            covered.setdefault(declaration.model_label, set()).update(declaration.fields)
        for entry in self._not_personal:
            covered.setdefault(entry.model._meta.label_lower, set()).update(entry.fields)
        return covered

    # --- checking -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """Everything wrong with the declarations, one message each; empty when sound.

        Checks that fields exist and are concrete, links resolve to an e-mail address or
        the account, retention anchors are dates, erasure names declared fields, a
        legitimate interest is stated when it is the basis, withheld and context lookups
        resolve, holds compile, hooks import, and no field is both personal and not.
        """
        problems: list[str] = []
        for declaration in self._declarations.values():
            problems.extend(f"{declaration.key}: {p}" for p in _declaration_problems(declaration))
        personal = {(d.model_label, name) for d in self._declarations.values() for name in d.fields}
        for entry in self._not_personal:
            label = entry.model._meta.label_lower
            if not str(entry.reason).strip():
                problems.append(f"{label}: not_personal({', '.join(entry.fields)}) needs a reason")
            for name in entry.fields:
                if _concrete_field(entry.model, name) is None:
                    problems.append(f"{label}.{name}: declared not personal but no such field")
                if (label, name) in personal:
                    problems.append(f"{label}.{name}: declared both personal and not personal")
        return problems


# --- validation helpers -------------------------------------------------------------------


def _declaration_problems(d: Declaration) -> list[str]:
    problems: list[str] = []
    model = d.model
    if not d.fields:
        problems.append("declares no field")
    for name in d.fields:
        model_field = _concrete_field(model, name)
        if model_field is None:
            problems.append(f"field {name!r} does not exist (or is not a column)")
    if not (d.link.email or d.link.user or d.link.generic or d.link.q or d.link.match):
        problems.append("the link to a person is empty")
    for path in d.link.email:
        problems.extend(_email_path_problems(model, path))
    for path in d.link.user:
        problems.extend(_user_path_problems(model, path))
    if d.link.generic is not None:
        for name in (d.link.generic.type_field, d.link.generic.id_field):
            if _concrete_field(model, name) is None:
                problems.append(f"generic link field {name!r} does not exist")
    if not d.categories or not all(isinstance(c, Category) for c in d.categories):
        problems.append("needs at least one Category")
    if not d.subjects or not all(isinstance(s, DataSubject) for s in d.subjects):
        problems.append("needs at least one DataSubject")
    if not isinstance(d.purpose, Purpose):
        problems.append("purpose must be a Purpose")
    if not isinstance(d.legal_basis, LegalBasis):
        problems.append("legal_basis must be a LegalBasis")
    if d.legal_basis == LegalBasis.LEGITIMATE_INTEREST and not str(d.legitimate_interest).strip():
        problems.append("a legitimate interest must be stated when it is the legal basis")
    if not all(isinstance(r, Recipient) for r in d.recipients):
        problems.append("recipients must be Recipient objects")
    problems.extend(_retention_problems(d))
    problems.extend(_erasure_problems(d))
    for name in d.export.withheld:
        if name not in d.fields:
            problems.append(f"withholds {name!r}, which is not a declared field")
        if not str(d.export.withheld[name]).strip():
            problems.append(f"withholds {name!r} without a reason")
    for path in d.export.context:
        if _resolve(model, path) is None:
            problems.append(f"export context {path!r} does not resolve")
    now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    for hold in d.holds:
        try:
            model._default_manager.filter(hold.rows(now)).query.get_compiler("default").as_sql()
        except Exception as error:  # noqa: BLE001 - any error is the message
            problems.append(f"hold {hold.code!r} does not compile: {error}")
    if d.rows is not None:
        try:
            model._default_manager.filter(d.rows).query.get_compiler("default").as_sql()
        except Exception as error:  # noqa: BLE001
            problems.append(f"rows filter does not compile: {error}")
    return problems


def _retention_problems(d: Declaration) -> list[str]:
    rule = d.retention
    if not isinstance(rule, RetentionRule):
        return ["needs a RetentionRule (privacy.retention.Retention presets)"]
    problems = []
    for path in rule.anchor:
        target = _resolve(d.model, path)
        if target is None:
            problems.append(f"retention anchor {path!r} does not resolve")
        elif rule.kind is RetentionKind.FOLLOWS:
            if not target.is_relation:
                problems.append(f"retention follows {path!r}, which is not a relation")
        elif not isinstance(target, models.DateField):  # DateTimeField is a DateField
            problems.append(f"retention anchor {path!r} is not a date")
    if rule.then is EndAction.ANONYMISE and d.erasure.kind is not ErasureKind.ANONYMISE:
        problems.append("retention ends in anonymisation but the erasure names no fields")
    return problems


def _erasure_problems(d: Declaration) -> list[str]:
    erasure = d.erasure
    if not isinstance(erasure, Erasure):
        return ["needs an Erasure"]
    problems = []
    if erasure.kind is ErasureKind.KEEP and not str(erasure.reason).strip():
        problems.append("keeping rows on erasure needs a reason")
    if erasure.kind is ErasureKind.ANONYMISE and not erasure.replacements:
        problems.append("anonymisation names no field")
    for name, value in erasure.replacements:
        model_field = _concrete_field(d.model, name)
        if name not in d.fields:
            problems.append(f"anonymises {name!r}, which is not a declared field")
        elif model_field is not None:
            if value is None and not model_field.null:
                problems.append(f"anonymises {name!r} to NULL but the column is NOT NULL")
            if model_field.is_relation and value is not None:
                problems.append(f"anonymises the relation {name!r} to something else than None")
    if erasure.hook:
        try:
            import_hook(erasure.hook)
        except (ImportError, AttributeError) as error:
            problems.append(f"erasure hook {erasure.hook!r} cannot be imported: {error}")
    return problems


def _email_path_problems(model: type[models.Model], path: str) -> list[str]:
    target = _resolve(model, path)
    if target is None:
        return [f"e-mail link {path!r} does not resolve"]
    if isinstance(target, models.JSONField):
        return []  # a key inside a JSON document
    if not isinstance(target, models.CharField | models.TextField):
        return [f"e-mail link {path!r} is not a text field"]
    return []


def _user_path_problems(model: type[models.Model], path: str) -> list[str]:
    user_model = settings.AUTH_USER_MODEL.lower()
    if path == "pk":
        if model._meta.label_lower != user_model:
            return [f"user link 'pk' is only valid on {settings.AUTH_USER_MODEL}"]
        return []
    target = _resolve(model, path)
    if target is None:
        return [f"user link {path!r} does not resolve"]
    related = getattr(target, "related_model", None)
    if not target.is_relation or related is None or related._meta.label_lower != user_model:
        return [f"user link {path!r} does not lead to {settings.AUTH_USER_MODEL}"]
    return []


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


def import_hook(path: str) -> Callable[..., Any]:
    """The callable at a dotted ``path`` (``accounts.privacy.cards_end_on_erasure``)."""
    module, _sep, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _strings(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _export(value: Export | Iterable[str] | Callable | None) -> Export:
    if value is None:
        return Export()
    if isinstance(value, Export):
        return value
    if callable(value):
        return Export(rows=value)
    return Export(context=_strings(value))


# The project's registry, filled by each app's privacy.py (see privacy.apps).
registry = PrivacyRegistry()
register = registry.register
not_personal = registry.not_personal
