"""The retention purge's legal holds: which due rows a hold or an open request keeps.

Each hold is a list of conditions, each a single ``EXISTS``, so that leaving the held rows
out (``_without``) is an anti-join whatever the table's size; a hold that holds nothing at
all is left out (``_holds_any``). Split from ``privacy.purge``, which uses these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.utils.translation import gettext

from privacy.declarations import Declaration, _resolve
from privacy.models import SubjectRequest
from privacy.purge_rows import _same_person

OPEN_REQUEST_STATUSES = (
    SubjectRequest.Status.OPEN,
    SubjectRequest.Status.IN_PROGRESS,
)


def _holds(declaration: Declaration, *, as_of: dt.datetime) -> list[tuple[str, list[Q]]]:
    """(reason, conditions) for every legal hold on the declaration's rows at ``as_of``; a
    row is held when any of the conditions is true.

    A declared hold keeps its own rows; for a person-wide rule it keeps all the person's
    rows (an order still to come keeps the buyer's past orders too). An open subject
    request keeps the rows of its person until it is answered. Each condition is a single
    EXISTS, so that excluding it is an anti-join whatever the table's size.
    """
    model = declaration.model
    holds: list[tuple[str, list[Q]]] = []
    for hold in declaration.holds:
        condition = hold.rows(as_of)
        held_rows = model._default_manager.filter(condition)
        if not _holds_any(model, condition):
            # Nothing held for this reason: no anti-join over every due row for it.
            continue
        conditions = [Q(Exists(held_rows.filter(pk=OuterRef("pk"))))]
        if declaration.retention.person_wide:
            conditions.extend(_same_person(declaration, held_rows))
        holds.append((str(hold.reason), conditions))
    requests = SubjectRequest.objects.filter(status__in=OPEN_REQUEST_STATUSES)
    if not requests.exists():
        return holds
    conditions = []
    for path in declaration.link.email:
        if "__" in path:
            addresses = requests.annotate(_e=Lower("email")).values("_e")
            linked = (
                model._default_manager.filter(pk=OuterRef("pk"))
                .annotate(_person_email=Lower(_text(model, path)))
                .filter(_person_email__in=addresses)
            )
            conditions.append(Q(Exists(linked)))
        else:
            conditions.append(
                Q(Exists(requests.annotate(_e=Lower("email")).filter(_e=Lower(OuterRef(path)))))
            )
    for path in declaration.link.user:
        if "__" in path:
            linked = model._default_manager.filter(
                pk=OuterRef("pk"), **{f"{path}__in": requests.values("user_id")}
            )
            conditions.append(Q(Exists(linked)))
        else:
            target = "pk" if path == "pk" else path
            conditions.append(Q(Exists(requests.filter(user_id=OuterRef(target)))))
    if conditions:
        holds.append((gettext("An open request of the person about their data"), conditions))
    return holds


def _holds_any(model: type[models.Model], condition: Q) -> bool:
    """Whether some row of ``model`` meets ``condition``: for an "either … or …" condition,
    one ``EXISTS`` per alternative (same answer). Each alternative alone can use its own
    index (the status index for orders awaiting payment; the slots still to come for
    tickets), whereas the OR of a column and a joined table's column forces a scan of the
    whole table joined to its tickets: about 1.5–3 s on a million orders, every night."""
    manager = model._default_manager
    if condition.connector != Q.OR or condition.negated:
        return manager.filter(condition).exists()
    return any(manager.filter(Q(part)).exists() for part in condition.children)


def _text(model: type[models.Model], path: str) -> Any:
    """The text at ``path``: a column, or a key inside a JSON field (``data__email``)."""
    target = _resolve(model, path)
    if isinstance(target, models.JSONField) and not path.endswith(f"__{target.name}"):
        return KT(path)
    return F(path)


def _without(rows: models.QuerySet, conditions: Iterable[Q]) -> models.QuerySet:
    for condition in conditions:
        rows = rows.exclude(condition)
    return rows
