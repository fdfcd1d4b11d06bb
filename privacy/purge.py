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

The code is split by subdomain: ``privacy.purge_rows`` (cutoffs, due rows, segments, the
batch's change), ``privacy.purge_holds`` (legal holds) and ``privacy.purge_notices`` (the
inactivity notice). This module runs the purge and keeps every public name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from privacy.declarations import Declaration, ErasureKind
from privacy.models import PurgeRun
from privacy.purge_holds import _holds, _without
from privacy.purge_holds import _holds_any as _holds_any
from privacy.purge_notices import purge_send_inactivity_notices
from privacy.purge_rows import CLOCKLESS as CLOCKLESS
from privacy.purge_rows import EXACT as EXACT
from privacy.purge_rows import Cutoff as Cutoff
from privacy.purge_rows import _apply, _due_rows, _segments, retention_cutoff
from privacy.registry import registry
from privacy.retention import EndAction

__all__ = ["PurgeError", "purge_run", "purge_send_inactivity_notices", "retention_cutoff"]

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
