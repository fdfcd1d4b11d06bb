"""The retention purge's row selection: cutoffs, due rows, segments, and the batch's change.

``retention_cutoff`` turns a rule into the point before which an anchor is past it; the
due rows of a declaration are selected with one SQL filter per segment (a site's own
retention value, or the rest), for person-wide rules leaving out the persons with a recent
row; ``_apply`` changes one batch of primary keys (one UPDATE with the keys as one array
parameter on PostgreSQL, or one DELETE with its cascades). Split from ``privacy.purge``,
which runs these and keeps the public names.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import (
    Exists,
    OuterRef,
    ProtectedError,
    Q,
    RestrictedError,
)
from django.db.models.functions import Lower
from django.utils import timezone

from privacy.declarations import Declaration, ErasureKind
from privacy.lookups import any_of
from privacy.models import RetentionSetting
from privacy.registry import registry
from privacy.retention import RetentionKind, RetentionRule

# Rules without a clock of their own: their rows go with their parent or their account.
CLOCKLESS = (RetentionKind.FOLLOWS, RetentionKind.WHILE_ACCOUNT_EXISTS)
# Rules whose due moment is the anchor itself plus N days (not a local day).
EXACT = (RetentionKind.UNTIL_EXPIRY, RetentionKind.UNTIL_REFUND_PAID)


@dataclasses.dataclass(frozen=True)
class Cutoff:
    """Rows whose anchors are all before this point are due.

    ``moment`` compares with date-times (strictly before); ``day`` with dates (on or
    before); ``inclusive`` makes the date-time comparison "on or before" (exact rules).
    """

    moment: dt.datetime
    day: dt.date
    inclusive: bool = False


@dataclasses.dataclass(frozen=True)
class _Segment:
    """Part of a declaration's rows sharing one retention value (a site, or the rest)."""

    suffix: str
    rows: Q
    rule: RetentionRule
    enforced: bool


def retention_cutoff(rule: RetentionRule, *, as_of: dt.datetime) -> Cutoff | None:
    """The point before which an anchor is past ``rule`` at ``as_of``; None if no row can be
    due (a clock-less rule, or nothing old enough).

    Derived from ``rule.due_at`` itself: the last local day whose due moment has come,
    found by bisection (``due_at`` never decreases with the day), so the SQL filter and
    ``is_due`` cannot disagree. No side effects.
    """
    if rule.kind in CLOCKLESS:
        return None
    local = timezone.localtime(as_of)
    if rule.kind in EXACT:
        moment = as_of - dt.timedelta(days=rule.days)
        # A date anchor is due on local midnight after ``days``: on or before this day.
        return Cutoff(
            moment=moment, day=local.date() - dt.timedelta(days=rule.days), inclusive=True
        )
    if rule.due_at(local.date()) is None:
        return None
    low = dt.date(max(1, local.year - 1000), 1, 1)
    high = local.date()
    if not _due(rule, low, as_of):
        return None
    if _due(rule, high, as_of):
        low = high
    while (high - low).days > 1:
        middle = low + (high - low) / 2
        if _due(rule, middle, as_of):
            low = middle
        else:
            high = middle
    last_due_day = low
    moment = dt.datetime.combine(
        last_due_day + dt.timedelta(days=1), dt.time.min, tzinfo=timezone.get_current_timezone()
    )
    return Cutoff(moment=moment, day=last_due_day)


def _due(rule: RetentionRule, day: dt.date, as_of: dt.datetime) -> bool:
    due = rule.due_at(day)
    return due is not None and due <= as_of


def _apply(declaration: Declaration, pks: list[Any], *, anonymise: bool) -> int:
    """One UPDATE (anonymise) or one DELETE with its cascades (delete) of ``pks``; rows
    that a protected foreign key keeps are left alone. Returns how many rows changed."""
    manager = declaration.model._default_manager
    # One array parameter on PostgreSQL: with 10,000 keys, an IN list cost about a quarter
    # of the UPDATE's time on the orders table (privacy.lookups).
    rows = manager.filter(any_of("pk", pks))
    if anonymise:
        return rows.update(**declaration.erasure.fields)
    label = declaration.model._meta.label
    try:
        with transaction.atomic():
            _total, per_model = rows.delete()
        return per_model.get(label, 0)
    except (ProtectedError, RestrictedError):
        pass
    # Some rows are still needed by records that are kept (a refund keeps its payment):
    # delete the others one by one; the rest stay and are reported as held.
    deleted = 0
    for pk in pks:
        try:
            with transaction.atomic():
                _total, per_model = manager.filter(pk=pk).delete()
        except (ProtectedError, RestrictedError):
            continue
        deleted += per_model.get(label, 0)
    return deleted


def _due_rows(declaration: Declaration, segment: _Segment, cutoff: Cutoff) -> models.QuerySet:
    """The declaration's rows in ``segment`` past retention and not yet anonymised."""
    model = declaration.model
    rule = segment.rule
    base = _base(declaration)
    due = base.filter(segment.rows).filter(_all_before(model, rule.anchor, cutoff))
    if declaration.erasure.kind is ErasureKind.ANONYMISE:
        due = due.exclude(_already_anonymised(declaration))
    if rule.person_wide:
        recent = base.filter(_any_from(model, rule.anchor, cutoff))
        for condition in _same_person(declaration, recent):
            due = due.exclude(condition)
    return due


def _base(declaration: Declaration) -> models.QuerySet:
    rows = declaration.model._default_manager.all()
    if declaration.rows is not None:
        rows = rows.filter(declaration.rows)
    return rows


def _all_before(model: type[models.Model], anchors: Iterable[str], cutoff: Cutoff) -> Q:
    """Every anchor is empty or before the cutoff, and at least one is set."""
    condition = Q()
    some = Q()
    for path in anchors:
        condition &= Q(**{f"{path}__isnull": True}) | _before(model, path, cutoff)
        some |= Q(**{f"{path}__isnull": False})
    return condition & some


def _any_from(model: type[models.Model], anchors: Iterable[str], cutoff: Cutoff) -> Q:
    """Some anchor is on or after the cutoff: the row is still recent."""
    condition = Q()
    for path in anchors:
        condition |= ~_before(model, path, cutoff) & Q(**{f"{path}__isnull": False})
    return condition


def _before(model: type[models.Model], path: str, cutoff: Cutoff) -> Q:
    if _is_datetime(model, path):
        lookup = "lte" if cutoff.inclusive else "lt"
        return Q(**{f"{path}__{lookup}": cutoff.moment})
    return Q(**{f"{path}__lte": cutoff.day})


def _is_datetime(model: type[models.Model], path: str) -> bool:
    current = model
    parts = path.split("__")
    for part in parts[:-1]:
        related = current._meta.get_field(part).related_model
        assert related is not None and not isinstance(related, str)
        current = related
    return isinstance(current._meta.get_field(parts[-1]), models.DateTimeField)


def _already_anonymised(declaration: Declaration) -> Q:
    """The row already holds every replacement value (a rerun finds nothing to do)."""
    condition = Q()
    for name, value in declaration.erasure.replacements:
        if value is None:
            condition &= Q(**{f"{name}__isnull": True})
        else:
            condition &= Q(**{name: value})
    return condition


def _local(paths: Iterable[str]) -> list[str]:
    return [p for p in paths if "__" not in p and p != "pk"]


def _same_person(declaration: Declaration, rows: models.QuerySet) -> list[Q]:
    """Conditions true when one of ``rows`` belongs to the same person as the outer row
    (same e-mail address in any case, or same account), through the row's own columns."""
    link = declaration.link
    emails = _local(link.email)
    users = _local(link.user)
    conditions = []
    for outer in emails:
        for inner in emails:
            matching = (
                rows.exclude(**{inner: ""})
                .annotate(_person_email=Lower(inner))
                .filter(_person_email=Lower(OuterRef(outer)))
            )
            conditions.append(Q(Exists(matching)))
    for outer in users:
        for inner in users:
            conditions.append(Q(Exists(rows.filter(**{inner: OuterRef(outer)}))))
    return conditions


def _parent_key(declaration: Declaration) -> list[str]:
    """The key of the declaration a part was declared apart from ("ticketing.order" for
    "ticketing.order:buyer") when both keep their rows by the same kind of rule: the
    manager's setting for orders then applies to the buyer's details as well."""
    base, _sep, part = declaration.key.partition(":")
    if not part:
        return []
    try:
        parent = registry.get(base)
    except KeyError:
        return []
    return [base] if parent.retention.kind is declaration.retention.kind else []


def _segments(declaration: Declaration) -> list[_Segment]:
    """The declaration's rows split by the retention value that applies to them.

    The most specific setting wins: the declaration's key before the rule's key, a site's
    before every site's. Rows of a model without a ``site`` use the setting for every site.
    """
    rule = declaration.retention
    keys = [declaration.key, *_parent_key(declaration), rule.key]
    chosen = list(RetentionSetting.objects.filter(rule_key__in=keys))

    def pick(site_id: int | None) -> RetentionSetting | None:
        for rule_key in keys:
            for setting in chosen:
                if setting.rule_key == rule_key and setting.site_id == site_id:
                    return setting
        return None

    def segment(suffix: str, rows: Q, setting: RetentionSetting | None) -> _Segment:
        if setting is None:
            return _Segment(suffix=suffix, rows=rows, rule=rule, enforced=True)
        return _Segment(
            suffix=suffix,
            rows=rows,
            rule=dataclasses.replace(rule, years=setting.years, days=setting.days),
            enforced=setting.is_active,
        )

    site_ids = sorted({s.site_id for s in chosen if s.site_id is not None})
    path = declaration.site
    if not site_ids or path is None:
        return [segment("", Q(), pick(None))]
    segments = [
        segment(f"@site:{site_id}", Q(**{f"{path}_id": site_id}), pick(site_id))
        for site_id in site_ids
    ]
    # Rows without a site (an order of museum cards only) are in the rest: Django's
    # negation of a nullable column's IN keeps its NULLs.
    segments.append(segment("", ~Q(**{f"{path}_id__in": site_ids}), pick(None)))
    return segments
