"""Reads over the declarations: a person's rows, the notice's and the record's sections.

No writes here. Rows are found with one query per declaration (links to other rows are
subqueries, never a loop), so a person with a thousand orders costs what one with a single
order costs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Q, Subquery, TextField
from django.db.models.functions import Cast
from django.utils.text import capfirst
from django.utils.translation import gettext

from privacy.declarations import (
    Category,
    DataSubject,
    Declaration,
    LegalBasis,
    Person,
    Purpose,
    Recipient,
)
from privacy.lookups import any_of
from privacy.registry import PrivacyRegistry, registry


@contextmanager
def person_lookups() -> Iterator[None]:
    """A transaction in which one person's rows are read with index lookups.

    Every query of an access bundle or an erasure preview finds a few rows of one person
    by an indexed address, account or key, often through a join (an order's buyer, a
    ticket's order). With PostgreSQL's default cost of a random page read (4, set for
    spinning disks) the planner rather scans and hashes whole tables of a few hundred
    thousand rows: for a person with 1,000 orders among 200,000, about 145 ms in SQL
    against 47 ms with the cost of a cached or solid-state read (1.1), as
    ``bench/export.py`` measures. ``SET LOCAL`` keeps the setting to this transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL random_page_cost = 1.1")
        yield


def person_q(
    declaration: Declaration,
    person: Person,
    *,
    within: PrivacyRegistry | None = None,
    known: Known | None = None,
) -> Q | None:
    """The WHERE clause of ``declaration``'s rows linked to ``person``; None when no row can
    be (no address matches a link of that kind, no account).

    A generic link (an audit event's subject) becomes one subquery per declared model of
    ``within`` (the project's registry by default), or, when the caller has already read
    the person's rows of every other model, ``known`` (model -> keys), one list of keys per
    model that has rows. No query is run here.
    """
    link = declaration.link
    clauses: list[Q] = []
    direct = person.matching(email=link.email, user=link.user)
    if direct is not None:
        clauses.append(direct)
    if link.q is not None:
        extra = link.q(person)
        if extra is not None:
            clauses.append(extra)
    if link.generic is not None:
        clauses.extend(_generic_clauses(declaration, person, within or registry, known))
    if not clauses:
        return None
    combined = clauses[0]
    for clause in clauses[1:]:
        combined |= clause
    return combined


def person_rows(
    declaration: Declaration,
    person: Person,
    *,
    within: PrivacyRegistry | None = None,
    known: Known | None = None,
) -> models.QuerySet:
    """The rows of ``declaration`` linked to ``person``, each once, ordered by key.

    Lazy: building it runs no query (except a ``match`` link, which is evaluated by the
    callable itself). ``known``: see ``person_q``.
    """
    manager = declaration.model._default_manager
    if declaration.link.match is not None:
        queryset = declaration.link.match(person)
    else:
        where = person_q(declaration, person, within=within, known=known)
        if where is None:
            return manager.none()
        queryset = manager.filter(where)
        if declaration.link_crosses_many:
            # A path through a one-to-many relation repeats rows; a subquery does not.
            queryset = manager.filter(pk__in=queryset.values("pk"))
    if declaration.rows is not None:
        queryset = queryset.filter(declaration.rows)
    return queryset.order_by("pk")


# The keys of a person's rows per model, as read by the caller (see ``person_q``).
Known = dict[type[models.Model], list]


def generic_last(declarations: Iterable[Declaration]) -> list[Declaration]:
    """``declarations`` with those linked through other rows (an audit event's subject)
    last: reading the others first gives the keys that ``known`` passes to them."""
    chosen = list(declarations)
    return [d for d in chosen if d.link.generic is None] + [
        d for d in chosen if d.link.generic is not None
    ]


def known_add(known: Known, declaration: Declaration, pks: Iterable) -> None:
    """Record the keys of a person's rows of ``declaration`` for the generic links."""
    if declaration.link.generic is None and declaration.link.is_sql:
        known.setdefault(declaration.model, []).extend(pks)


def _generic_clauses(
    declaration: Declaration, person: Person, within: PrivacyRegistry, known: Known | None
) -> list[Q]:
    """One clause per declared model: rows pointing at the person's rows of that model,
    given by their keys (``known``) or found by a subquery."""
    ref = declaration.link.generic
    assert ref is not None
    ids: dict[type[models.Model], Q] = {}
    if known is not None:
        for model, keys in known.items():
            if model is not declaration.model and keys:
                ids[model] = any_of(ref.id_field, sorted({str(pk) for pk in keys}))
    else:
        per_model: dict[type[models.Model], Q] = {}
        for other in within.declarations:
            if other.model is declaration.model or other.link.generic is not None:
                continue  # no recursion between generic links
            if not other.link.is_sql:
                continue
            where = person_q(other, person, within=within)
            if where is None:
                continue
            if other.rows is not None:
                where &= other.rows
            per_model[other.model] = (
                per_model[other.model] | where if other.model in per_model else where
            )
        for model, where in per_model.items():
            keys_as_text = (
                model._default_manager.filter(where)
                .annotate(_privacy_pk_text=Cast("pk", TextField()))
                .values("_privacy_pk_text")
            )
            ids[model] = Q(**{f"{ref.id_field}__in": Subquery(keys_as_text)})
    clauses = []
    for model, matching in ids.items():
        if ref.content_type:
            kind: object = ContentType.objects.get_for_model(model)
        else:
            kind = model._meta.label_lower
        clauses.append(Q(**{ref.type_field: kind}) & matching)
    return clauses


# --- the notice and the record of processing -------------------------------------------


@dataclass(frozen=True)
class DeclaredData:
    """One declaration as the record of processing shows it."""

    title: str
    model_label: str
    fields: tuple[str, ...]
    categories: tuple[Category, ...]
    retention: str
    holds: tuple[str, ...]
    erasure: str
    source: str


@dataclass(frozen=True)
class PurposeSection:
    """Everything the notice and the record say about one purpose."""

    purpose: Purpose
    legal_bases: tuple[LegalBasis, ...]
    legitimate_interests: tuple[str, ...]
    categories: tuple[Category, ...]
    subjects: tuple[DataSubject, ...]
    recipients: tuple[Recipient, ...]
    transfers: tuple[Recipient, ...]
    retention: tuple[str, ...]
    sources: tuple[str, ...]
    data: tuple[DeclaredData, ...]


def purpose_sections(*, within: PrivacyRegistry | None = None) -> list[PurposeSection]:
    """One section per declared purpose, in the purposes' order, texts in the active
    language; each list without repeats, in the order of the declarations."""
    source = within or registry
    sections = []
    for purpose in source.purposes():
        declared = [d for d in source.declarations if d.purpose.code == purpose.code]
        sections.append(
            PurposeSection(
                purpose=purpose,
                legal_bases=_unique(d.legal_basis for d in declared),
                legitimate_interests=_unique(
                    str(d.legitimate_interest) for d in declared if d.legitimate_interest
                ),
                categories=tuple(
                    sorted(
                        _unique(c for d in declared for c in d.categories),
                        key=list(Category).index,
                    )
                ),
                subjects=tuple(
                    sorted(
                        _unique(s for d in declared for s in d.subjects),
                        key=list(DataSubject).index,
                    )
                ),
                recipients=_unique(r for d in declared for r in d.recipients),
                transfers=_unique(r for d in declared for r in d.recipients if r.transfer),
                retention=_unique(
                    # Translators: e.g. "Orders: 5 years after the end of ..."
                    gettext("%(data)s: %(retention)s")
                    % {"data": d.title, "retention": d.retention_description}
                    for d in declared
                ),
                sources=_unique(str(d.source) for d in declared if d.source),
                data=tuple(
                    DeclaredData(
                        title=d.title,
                        model_label=d.model_label,
                        fields=d.fields,
                        categories=d.categories,
                        retention=capfirst(d.retention_description),
                        holds=tuple(str(hold.reason) for hold in d.holds),
                        erasure=d.erasure.description,
                        source=str(d.source),
                    )
                    for d in declared
                ),
            )
        )
    return sections


def privacy_contact() -> str:
    """The address people write to about their data.

    ``PRIVACY_CONTACT_EMAIL`` when set, else the address the museum's e-mails come from.
    """
    configured = getattr(settings, "PRIVACY_CONTACT_EMAIL", "")
    if configured:
        return configured
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def supervisory_authority() -> str:
    """The data protection authority named in the notice (``PRIVACY_SUPERVISORY_AUTHORITY``)."""
    return getattr(settings, "PRIVACY_SUPERVISORY_AUTHORITY", "")


def _unique(values) -> tuple:
    seen: dict = {}
    for value in values:
        seen.setdefault(value, None)
    return tuple(seen)


def restriction_for(*, email: str, purpose: str):
    """The person's restriction in force for ``purpose`` (the oldest), or None.

    A restriction of processing counts for every purpose; an objection to marketing only
    when ``purpose`` is ``"marketing"`` (newsletters, offers). A lifted one no longer
    counts. One query; no writes.
    """
    from privacy.models import ProcessingRestriction

    address = (email or "").strip()
    if not address:
        return None
    kinds = [ProcessingRestriction.Kind.RESTRICTION]
    if purpose == "marketing":
        kinds.append(ProcessingRestriction.Kind.MARKETING_OBJECTION)
    return (
        ProcessingRestriction.objects.filter(
            email__iexact=address, kind__in=kinds, lifted_at__isnull=True
        )
        .order_by("pk")
        .first()
    )


def is_restricted(*, email: str, purpose: str) -> bool:
    """True when the person at ``email`` restricted processing, or objected to marketing
    and ``purpose`` is ``"marketing"`` (newsletters, offers); a lifted one no longer counts.

    Apps that send mail or process for marketing ask this first. One query.
    """
    return restriction_for(email=email, purpose=purpose) is not None
