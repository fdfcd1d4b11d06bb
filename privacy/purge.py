"""The retention purge: every declaration's rows past their retention are deleted or anonymised.

The rules are the declarations' (``privacy.registry``), with the values a museum chose in
the admin (``RetentionSetting``). A run selects the due rows with one SQL filter per rule
(the anchor before a cutoff computed from the rule's own ``due_at``; for person-wide rules,
no other row of the same person is still recent), leaves out the rows under a legal hold
(counted per reason), and changes the others in bounded transactions of ``batch_size``
rows in primary-key order. After each batch the run's ``cursor`` records the last key
done, so that a run stopped by a crash is resumed where it stopped. Only primary keys go
through Python, a batch at a time: memory stays constant whatever the number of rows.

What happens at the end is the declaration's: its erasure's (delete or anonymise), and
for rows an erasure keeps for a legal reason (accounting records, the audit trail, the
proof of requests), their rule's end action once that legal period is over: they are
deleted then. Rows that a protected foreign key still needs stay and are reported held.

Speed (``bench/purge.py``, docs/performance.md): a hold that holds nothing at all is left
out of the statements; the held rows are counted once the work is done (the due rows left
are the held ones), not over every due row before it; JIT compilation is off for the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import (
    Exists,
    F,
    OuterRef,
    ProtectedError,
    Q,
    RestrictedError,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Lower
from django.db.models.lookups import Lookup
from django.utils import timezone
from django.utils.translation import gettext

from privacy.declarations import Declaration, ErasureKind, _resolve
from privacy.models import PurgeRun, RetentionSetting, SubjectRequest
from privacy.registry import registry
from privacy.retention import EndAction, RetentionKind, RetentionRule

__all__ = ["PurgeError", "purge_run", "purge_send_inactivity_notices", "retention_cutoff"]

# Rules without a clock of their own: their rows go with their parent or their account.
CLOCKLESS = (RetentionKind.FOLLOWS, RetentionKind.WHILE_ACCOUNT_EXISTS)
# Rules whose due moment is the anchor itself plus N days (not a local day).
EXACT = (RetentionKind.UNTIL_EXPIRY, RetentionKind.UNTIL_REFUND_PAID)
OPEN_REQUEST_STATUSES = (
    SubjectRequest.Status.OPEN,
    SubjectRequest.Status.IN_PROGRESS,
)

# Rows changed per transaction: large enough that the per-batch costs (commit, progress
# record) vanish beside the UPDATE itself, small enough that a batch commits in about a
# second on a million-order table, so a crash or a lock wait loses little.
BATCH_SIZE = 10_000

# The PostgreSQL advisory lock key that keeps real purges one at a time ("purge" in hex).
PURGE_LOCK = 0x7075726765

# Called after every committed batch with (run, declaration); tests use it to simulate a
# crash half-way. Production leaves it alone.
after_batch: Callable[[PurgeRun, Declaration], None] | None = None


class PurgeError(ValueError):
    """A purge asked for something that does not exist (an unknown rule)."""


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


def purge_run(
    *,
    as_of: dt.datetime | None = None,
    dry_run: bool = False,
    only_rule: str = "",
    triggered_by: Any = None,
    batch_size: int = BATCH_SIZE,
    resume: bool = True,
) -> PurgeRun:
    """Apply every retention rule (or only ``only_rule``, a declaration or rule key) at
    ``as_of`` (default: now) and return the run with its report.

    With ``resume``, an unfinished real run of the same ``as_of`` and ``only_rule`` (for no
    ``as_of``: started in the last day) is continued from its cursor instead of starting a
    new one. A dry run counts what would happen and writes the same report, changing
    nothing else.

    Side effects: creates or updates a PurgeRun (cursor after every batch, report after
    every declaration); deletes or anonymises due rows that no legal hold keeps, one
    transaction per batch.
    Raises: PurgeError for an ``only_rule`` that names no declaration or rule, or while
    another real purge runs; any database error after recording it on the run (status
    FAILED, resumable).
    """
    if batch_size < 1:
        raise PurgeError("batch_size must be positive")
    declarations = _declarations(only_rule)
    if dry_run:
        return _purge(
            declarations,
            as_of=as_of,
            dry_run=True,
            only_rule=only_rule,
            triggered_by=triggered_by,
            batch_size=batch_size,
            resume=False,
        )
    with _single_purge():
        return _purge(
            declarations,
            as_of=as_of,
            dry_run=False,
            only_rule=only_rule,
            triggered_by=triggered_by,
            batch_size=batch_size,
            resume=resume,
        )


@contextlib.contextmanager
def _single_purge() -> Iterator[None]:
    """One real purge at a time (the nightly task and "Run now" may meet): a PostgreSQL
    session lock, released at the end whatever happens. Raises: PurgeError if taken."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [PURGE_LOCK])
        (locked,) = cursor.fetchone()
    if not locked:
        raise PurgeError("A purge is already running.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PURGE_LOCK])


@contextlib.contextmanager
def _no_jit() -> Iterator[None]:
    """Run the purge's statements without PostgreSQL's JIT compilation: they are large
    anti-joins planned once per rule, for which compiling cost more (about 0.7 s each on
    a million orders) than it saved."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        (before,) = cursor.fetchone()
        cursor.execute("SET jit = off")
    try:
        yield
    finally:
        if not connection.needs_rollback and connection.is_usable():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('jit', %s, false)", [before])


def _purge(
    declarations: list[Declaration],
    *,
    as_of: dt.datetime | None,
    dry_run: bool,
    only_rule: str,
    triggered_by: Any,
    batch_size: int,
    resume: bool,
) -> PurgeRun:
    now = timezone.now()
    run = _run_to_resume(as_of=as_of, only_rule=only_rule, now=now) if resume else None
    if run is None:
        run = PurgeRun.objects.create(
            started_at=now,
            as_of=as_of or now,
            dry_run=dry_run,
            only_rule=only_rule,
            triggered_by=triggered_by,
        )
    else:
        run.status = PurgeRun.Status.RUNNING
        run.error = ""
        run.save(update_fields=["status", "error"])
    try:
        with _no_jit():
            for declaration in declarations:
                _purge_declaration(run, declaration, batch_size=batch_size)
    except Exception as error:
        run.status = PurgeRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at", "cursor", "report"])
        raise
    run.status = PurgeRun.Status.DONE
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "cursor", "report"])
    return run


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


# --- one declaration ---------------------------------------------------------------------


def _purge_declaration(run: PurgeRun, declaration: Declaration, *, batch_size: int) -> None:
    key = declaration.key
    entry = run.report.get(key) or {
        "category": [str(c.value) for c in declaration.categories],
        "rule": str(declaration.retention_description),
        "deleted": 0,
        "anonymised": 0,
        "held": {},
    }
    run.report[key] = entry
    rule = declaration.retention
    if rule.kind in CLOCKLESS or not rule.anchor:
        entry["kept"] = gettext("No clock of its own: %(rule)s") % {
            "rule": declaration.retention_description
        }
        run.save(update_fields=["report"])
        return
    verb = _end_verb(declaration)
    if verb is None:
        # A kept declaration that says "anonymise" at the end names no fields to blank.
        entry["kept"] = gettext("%(reason)s (no fields to anonymise are declared)") % {
            "reason": declaration.erasure.reason
        }
        run.save(update_fields=["report"])
        return
    held: dict[str, int] = {}
    for segment in _segments(declaration):
        if not segment.enforced:
            entry["kept"] = gettext("Not enforced: switched off in the retention settings")
            continue
        cutoff = retention_cutoff(segment.rule, as_of=run.as_of)
        if cutoff is None:
            continue
        due = _due_rows(declaration, segment, cutoff)
        if declaration.model is PurgeRun:
            due = due.exclude(pk=run.pk)  # a run does not purge its own record
        holds = _holds(declaration, as_of=run.as_of)
        todo = _without(due, (c for _reason, conditions in holds for c in conditions))
        if run.dry_run:
            _count_held(due, holds, held, deleting=False)
            entry[verb] += todo.count()
            continue
        cursor_key = key + segment.suffix
        last = run.cursor.get(cursor_key)
        if last is not None:
            todo = todo.filter(pk__gt=last)
        pks = todo.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=batch_size)
        batch: list[Any] = []
        for pk in pks:
            batch.append(pk)
            if len(batch) >= batch_size:
                _commit_batch(run, declaration, entry, verb, cursor_key, batch)
                batch = []
        if batch:
            _commit_batch(run, declaration, entry, verb, cursor_key, batch)
        # Counted once the work is done: the due rows left are the held ones (and, when
        # deleting, those other kept records still need), usually few, so this costs one
        # scan instead of one per hold over every due row. Held rows never change, so a
        # resumed run counts them again and finds the same.
        _count_held(due, holds, held, deleting=verb == "deleted")
    entry["held"] = held
    run.save(update_fields=["cursor", "report"])


def _count_held(
    due: models.QuerySet,
    holds: list[tuple[str, list[Q]]],
    held: dict[str, int],
    *,
    deleting: bool,
) -> None:
    """Add to ``held`` the ``due`` rows each hold keeps (a row may be held for several
    reasons, as before); with ``deleting``, also the due rows no hold keeps that are
    still there because other kept records need them (a protected foreign key)."""
    if not holds and not deleting:
        return
    total = due.count()
    if not total:
        return
    for reason, conditions in holds:
        count = total - _without(due, conditions).count()
        if count:
            held[reason] = held.get(reason, 0) + count
    if deleting:
        free = _without(due, (c for _reason, conditions in holds for c in conditions)).count()
        if free:
            reason = gettext("Still needed by other records that are kept")
            held[reason] = held.get(reason, 0) + free


def _end_verb(declaration: Declaration) -> str | None:
    """What the purge does to the declaration's rows once their retention is over:
    "anonymised", "deleted", or None when it cannot do anything.

    The erasure says what a person's erasure does before the end; a declaration whose
    erasure keeps the rows for a legal reason (accounting records, proofs of requests)
    keeps them only for that legal period, and then its rule's end action applies:
    DELETE deletes them; ANONYMISE has nothing to blank (a kept declaration names no
    replacement fields), so they stay and the report says why.
    """
    kind = declaration.erasure.kind
    if kind is ErasureKind.ANONYMISE:
        return "anonymised"
    if kind is ErasureKind.DELETE:
        return "deleted"
    if declaration.retention.then is EndAction.DELETE:
        return "deleted"
    return None


def _commit_batch(
    run: PurgeRun,
    declaration: Declaration,
    entry: dict[str, Any],
    verb: str,
    cursor_key: str,
    batch: list[Any],
) -> None:
    """Change ``batch`` and record the progress (cursor, counts) in the same transaction."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Losing the last batches in a server crash is harmless: the cursor goes with
            # them and the next run does them again. Saves a disk flush per batch.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        entry[verb] += _apply(declaration, batch, anonymise=verb == "anonymised")
        run.cursor[cursor_key] = batch[-1]
        run.save(update_fields=["cursor", "report"])
    if after_batch is not None:
        after_batch(run, declaration)


def _apply(declaration: Declaration, pks: list[Any], *, anonymise: bool) -> int:
    """One UPDATE (anonymise) or one DELETE with its cascades (delete) of ``pks``; rows
    that a protected foreign key keeps are left alone. Returns how many rows changed."""
    manager = declaration.model._default_manager
    rows = manager.filter(pk__in=pks)
    if anonymise:
        return manager.filter(_pk_in(declaration.model, pks)).update(**declaration.erasure.fields)
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


def _pk_in(model: type[models.Model], pks: list[Any]) -> Q:
    """``pk IN pks``; on PostgreSQL as ``pk = ANY(array)``, one parameter instead of one
    per key: with 10,000 keys, parsing and planning the long IN list cost about a quarter
    of the UPDATE's time on the orders table (30,000 against 40,000 rows/s)."""
    if connection.vendor != "postgresql":
        return Q(pk__in=pks)
    return Q(_EqualsAny(F("pk"), list(pks)))


class _EqualsAny(Lookup):
    """``lhs = ANY(%s)`` with the list as one array parameter (PostgreSQL)."""

    lookup_name = "privacy_equals_any"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> Any:  # (sql, params)
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, self.rhs]


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


def _segments(declaration: Declaration) -> list[_Segment]:
    """The declaration's rows split by the retention value that applies to them.

    The most specific setting wins: the declaration's key before the rule's key, a site's
    before every site's. Rows of a model without a ``site`` use the setting for every site.
    """
    rule = declaration.retention
    chosen = list(RetentionSetting.objects.filter(rule_key__in=[declaration.key, rule.key]))

    def pick(site_id: int | None) -> RetentionSetting | None:
        for rule_key in (declaration.key, rule.key):
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
    if not site_ids or not _has_site(declaration.model):
        return [segment("", Q(), pick(None))]
    segments = [
        segment(f"@site:{site_id}", Q(site_id=site_id), pick(site_id)) for site_id in site_ids
    ]
    segments.append(segment("", ~Q(site_id__in=site_ids), pick(None)))
    return segments


def _has_site(model: type[models.Model]) -> bool:
    try:
        field = model._meta.get_field("site")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist
        return False
    return bool(getattr(field, "concrete", False) and field.is_relation)


def _declarations(only_rule: str) -> list[Declaration]:
    declarations = list(registry.declarations)
    if not only_rule:
        return declarations
    chosen = [d for d in declarations if only_rule in (d.key, d.retention.key)]
    if not chosen:
        raise PurgeError(f"No declaration or retention rule is called {only_rule!r}.")
    return chosen


def _run_to_resume(
    *, as_of: dt.datetime | None, only_rule: str, now: dt.datetime
) -> PurgeRun | None:
    runs = PurgeRun.objects.filter(
        status__in=[PurgeRun.Status.RUNNING, PurgeRun.Status.FAILED],
        dry_run=False,
        only_rule=only_rule,
    )
    if as_of is not None:
        runs = runs.filter(as_of=as_of)
    else:
        runs = runs.filter(started_at__gte=now - dt.timedelta(days=1))
    return runs.order_by("-started_at", "-pk").first()


# --- the notice before anonymisation for inactivity ---------------------------------------


def purge_send_inactivity_notices(
    *, as_of: dt.datetime | None = None, notice_days: int = 30
) -> int:
    """E-mail each person whose data an inactivity rule will anonymise within
    ``notice_days`` of ``as_of`` (default now): signing in keeps it. Returns how many
    notices were queued.

    Rows already due, held, or without an address get none. The outbox key names the row
    and the day it falls due, so a notice goes once per period of inactivity however often
    this runs. Side effects: OutboxEmail rows (sent after commit).
    """
    from django.urls import reverse

    from museum.emails import email_enqueue

    as_of = as_of or timezone.now()
    queued = 0
    for declaration in registry.declarations:
        rule = declaration.retention
        emails = _local(declaration.link.email)
        if rule.kind is not RetentionKind.INACTIVITY or not emails:
            continue
        model = declaration.model
        language_field = "preferred_language" if _has_field(model, "preferred_language") else ""
        for segment in _segments(declaration):
            soon = retention_cutoff(segment.rule, as_of=as_of + dt.timedelta(days=notice_days))
            now = retention_cutoff(segment.rule, as_of=as_of)
            if not segment.enforced or soon is None:
                continue
            rows = _due_rows(declaration, segment, soon)
            if now is not None:
                rows = rows.exclude(pk__in=_due_rows(declaration, segment, now).values("pk"))
            for _reason, conditions in _holds(declaration, as_of=as_of):
                rows = _without(rows, conditions)
            fields = [emails[0], *segment.rule.anchor]
            if language_field:
                fields.append(language_field)
            for pk, address, *rest in rows.order_by("pk").values_list("pk", *fields).iterator():
                anchors = [value for value in rest[: len(segment.rule.anchor)] if value is not None]
                if not address or address.endswith("@invalid") or not anchors:
                    continue
                due = segment.rule.due_at(max(anchors))
                language = rest[-1] if language_field else "en"
                email_enqueue(
                    dedupe_key=f"privacy-inactivity:{declaration.key}:{pk}:{due:%Y-%m-%d}",
                    to=address,
                    template="privacy/inactivity_notice",
                    context={
                        "due_on": timezone.localdate(due),
                        "sign_in_url": settings.SITE_URL + reverse("account_login"),
                    },
                    language=language or "en",
                )
                queued += 1
    return queued


def _has_field(model: type[models.Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.concrete_fields)
