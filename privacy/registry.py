"""What personal data the platform holds: the declarations every app makes in ``privacy.py``.

An app declares, for each model that holds personal data, which fields, how a row is
linked to a person, the category of data, the purpose, the legal basis, the recipients,
the retention rule, what an erasure does and how the rows are exported::

    from privacy import purposes
    from privacy.declarations import Category, DataSubject, Erasure, LegalBasis, PersonLink
    from privacy.registry import Retention, register

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

The value types of a declaration (categories, legal bases, links, erasures, exports)
live in ``privacy.declarations``; this module keeps the registry itself.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from privacy.declarations import (
    Category,
    DataSubject,
    Declaration,
    Erasure,
    ErasureKind,
    Export,
    Hold,
    LegalBasis,
    PersonLink,
    Purpose,
    Recipient,
    Text,
    _concrete_field,
    _resolve,
    _strings,
)
from privacy.retention import EndAction, Retention, RetentionKind, RetentionRule

__all__ = [
    "AlreadyRegistered",
    "EndAction",
    "NotPersonal",
    "PrivacyRegistry",
    "Retention",
    "RetentionKind",
    "RetentionRule",
    "import_hook",
    "not_personal",
    "register",
    "registry",
]


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
        site: str | None = None,
    ) -> Declaration:
        """Declare the personal data of ``model``; returns the immutable declaration.

        ``key`` names the declaration (default: the model's label); a model declared
        twice (e.g. its buyer's data and its staff's) needs a key for the second one.
        ``export`` is an Export, a list of context lookups, or a callable(queryset).
        ``site`` is the lookup of the row's site, for per-site retention values (default:
        the model's own ``site`` foreign key, if it has one).
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
            site=site or ("site" if _has_site(model) else None),
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


def import_hook(path: str) -> Callable[..., Any]:
    """The callable at a dotted ``path`` (``accounts.privacy.cards_end_on_erasure``)."""
    module, _sep, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


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


def _has_site(model: type[models.Model]) -> bool:
    """The model has a concrete ``site`` foreign key of its own."""
    try:
        field = model._meta.get_field("site")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist
        return False
    return bool(getattr(field, "concrete", False) and field.is_relation)
