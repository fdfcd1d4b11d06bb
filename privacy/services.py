"""What the privacy app does for a person: the access bundle (Art. 15 and 20 GDPR).

Erasure, retention runs and subject requests come with the privacy app's models.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.text import capfirst

from privacy.declarations import Declaration, Person
from privacy.registry import PrivacyRegistry, registry
from privacy.selectors import Known, generic_last, known_add, person_lookups, person_rows

BUNDLE_FORMAT = 1


def access_bundle(
    *,
    email: str | None,
    user: Any = None,
    now: dt.datetime | None = None,
    within: PrivacyRegistry | None = None,
) -> dict[str, Any]:
    """Everything linked to a person across all declarations, as JSON-ready data.

    The person is known by ``email`` and, when given, by the account ``user`` (whose own
    address counts too). Each declaration with rows gives a section: what the data is,
    why it is held, on which basis, who receives it, how long it is kept, and its rows
    with the declared fields (fields withheld for security are named, with the reason).
    Texts are in the active language. One query per declaration, whatever the number of
    rows. No side effects: recording that a copy was handed out is the request's job.
    """
    source = within or registry
    person = Person.of(email=email, user=user)
    sections: dict[str, Any] = {}
    found: dict[str, list[dict]] = {}
    known: Known = {}
    with person_lookups():
        # Rows linked through other rows (audit events about them) come last, found by
        # the keys read before them.
        for declaration in generic_last(source.declarations):
            rows, pks = _rows(declaration, person, source, known)
            known_add(known, declaration, pks)
            found[declaration.key] = rows
    for declaration in source.declarations:
        rows = found[declaration.key]
        if not rows:
            continue
        sections[declaration.key] = {
            "data": declaration.title,
            "purpose": str(declaration.purpose.title),
            "legal_basis": str(declaration.legal_basis.label),
            **(
                {"legitimate_interest": str(declaration.legitimate_interest)}
                if declaration.legitimate_interest
                else {}
            ),
            "categories": [str(category.label) for category in declaration.categories],
            "recipients": [str(recipient.name) for recipient in declaration.recipients],
            "retention": capfirst(declaration.retention_description),
            "erasure": declaration.erasure.description,
            **({"source": str(declaration.source)} if declaration.source else {}),
            **(
                {"withheld": {k: str(v) for k, v in declaration.export.withheld.items()}}
                if declaration.export.withheld
                else {}
            ),
            "rows": rows,
        }
    return {
        "format": BUNDLE_FORMAT,
        "generated_at": timezone.localtime(now or timezone.now()).isoformat(),
        "person": {"emails": sorted(person.emails), "account": person.user_id},
        "sections": sections,
    }


def _rows(
    declaration: Declaration, person: Person, source: PrivacyRegistry, known: Known
) -> tuple[list[dict], list[Any]]:
    """The declaration's rows of the person, ready for JSON, and their keys."""
    queryset = person_rows(declaration, person, within=source, known=known)
    if declaration.export.rows is not None:
        raw = declaration.export.rows(queryset)
        pks = list(queryset.values_list("pk", flat=True)) if raw else []
    else:
        raw = list(queryset.values(*declaration.export_fields()))
        pks = [row["pk"] for row in raw]
    zone = timezone.get_current_timezone()
    return [{key: jsonable(value, zone) for key, value in row.items()} for row in raw], pks


_PLAIN = frozenset({str, int, bool, float, type(None)})


def jsonable(value: Any, zone: dt.tzinfo | None = None) -> Any:
    """``value`` as plain JSON data: local ISO times (in ``zone``, by default the current
    time zone), decimals and UUIDs as strings. A bundle converts tens of thousands of
    values: plain ones return first, and callers pass the zone looked up once."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        if not timezone.is_aware(value):
            return value.isoformat()
        return value.astimezone(zone or timezone.get_current_timezone()).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v, zone) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, zone) for v in value]
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value
