"""Erasure (Art. 17 GDPR): a preview per declaration, the erasure itself, and its replay.

The preview and the run share one plan: per declaration, the action its ``Erasure``
declares and the primary keys of the person's rows, found before anything changes (an
anonymised order no longer leads to its tickets). The run applies the plan app by app, one
transaction per app: the declared hooks first (ending a museum card), then the
anonymisations, then the deletions. The plan, without personal data, is kept in an
ErasureRecord with a keyed hash of the address, so that ``manage.py
privacy_replay_erasures`` can apply it again to a database restored from a backup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from museum.emails import email_enqueue
from privacy.declarations import Declaration, ErasureKind, Person
from privacy.models import ErasureRecord, ProcessingRestriction, SubjectRequest
from privacy.registry import PrivacyRegistry, import_hook, registry
from privacy.requests import SubjectRequestError, _event, _locked, _require_open
from privacy.selectors import Known, generic_last, known_add, person_lookups, person_rows


@dataclass
class ErasureItem:
    """What an erasure does to one declaration's rows of the person."""

    key: str
    app_label: str
    title: str
    action: str  # "delete", "anonymise" or "keep"
    pks: list[Any]
    reason: str = ""
    effects: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # holds that apply now, for the DPO to weigh

    @property
    def count(self) -> int:
        return len(self.pks)


@dataclass
class ErasurePreview:
    """The plan of an erasure, declaration by declaration, in registry order."""

    items: list[ErasureItem]

    @property
    def plan(self) -> dict[str, dict[str, Any]]:
        """What is stored in an ErasureRecord: action and keys, for rows that change."""
        return {
            item.key: {"action": item.action, "pks": item.pks}
            for item in self.items
            if item.action != ErasureKind.KEEP and item.pks
        }

    def by_app(self) -> dict[str, list[ErasureItem]]:
        grouped: dict[str, list[ErasureItem]] = defaultdict(list)
        for item in self.items:
            grouped[item.app_label].append(item)
        return dict(grouped)


def subject_digest(email: str) -> str:
    """A keyed SHA-256 hash of the normalised address: the same person, never the address."""
    key = hashlib.sha256(f"privacy.erasure.subject:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def subject_person(email: str, user: Any) -> Person:
    """The person of a request: the address, and the account (``user``, or the one
    registered with the address); no side effects."""
    if user is None and email:
        # Proving the address proves the account registered with it (as a password reset).
        user = get_user_model().objects.filter(email__iexact=email.strip()).first()
    return Person.of(email=email, user=user)


def erasure_preview(
    *,
    email: str,
    user: Any = None,
    now: dt.datetime | None = None,
    within: PrivacyRegistry | None = None,
) -> ErasurePreview:
    """What erasing the person would do, per declaration: deleted, anonymised or kept, and why.

    The person is the address, and the account registered with it (or ``user``). Holds
    that apply now are listed for the DPO; they do not stop an erasure the DPO approves.
    No side effects (a declaration's ``match`` link may read many rows).
    """
    now = now or timezone.now()
    source = within or registry
    person = subject_person(email, user)
    found: dict[str, ErasureItem] = {}
    known: Known = {}
    with person_lookups():
        # Rows linked through other rows (audit events) last, by the keys found before.
        for declaration in generic_last(source.declarations):
            queryset = person_rows(declaration, person, within=source, known=known)
            pks = list(queryset.values_list("pk", flat=True))  # ordered by key
            known_add(known, declaration, pks)
            if not pks:
                continue
            held = [
                str(hold.reason)
                for hold in declaration.holds
                if declaration.model._default_manager.filter(pk__in=pks)
                .filter(hold.rows(now))
                .exists()
            ]
            erasure = declaration.erasure
            found[declaration.key] = ErasureItem(
                key=declaration.key,
                app_label=declaration.model._meta.app_label,
                title=declaration.title,
                action=str(erasure.kind),
                pks=pks,
                reason=str(erasure.reason),
                effects=[str(effect) for effect in erasure.effects],
                held=held,
            )
    items = [found[d.key] for d in source.declarations if d.key in found]
    return ErasurePreview(items=items)


def _apply_plan(
    plan: dict[str, dict[str, Any]], *, source: PrivacyRegistry, now: dt.datetime
) -> None:
    """Apply a plan, one transaction per app: hooks, then anonymisations, then deletions."""
    by_app: dict[str, list[tuple[Declaration, dict[str, Any]]]] = defaultdict(list)
    for key, entry in plan.items():
        declaration = source.get(key)
        by_app[declaration.model._meta.app_label].append((declaration, entry))
    for _app, entries in by_app.items():
        with transaction.atomic():
            for declaration, entry in entries:
                if declaration.erasure.hook:
                    rows = declaration.model._default_manager.filter(pk__in=entry["pks"])
                    import_hook(declaration.erasure.hook)(rows, now=now)
            for declaration, entry in entries:
                if entry["action"] == ErasureKind.ANONYMISE:
                    declaration.model._default_manager.filter(pk__in=entry["pks"]).update(
                        **declaration.erasure.fields
                    )
            for declaration, entry in entries:
                if entry["action"] == ErasureKind.DELETE:
                    declaration.model._default_manager.filter(pk__in=entry["pks"]).delete()


def erasure_run(
    *,
    request: SubjectRequest,
    actor: Any,
    now: dt.datetime | None = None,
    within: PrivacyRegistry | None = None,
) -> ErasureRecord:
    """Erase the person of an approved erasure request, exactly as ``erasure_preview`` says.

    Side effects: first, in one transaction, an ErasureRecord (keyed hash and plan), an
    "erasure_approved" event and a marketing objection (no newsletter or marketing mail
    any more, even to a restored copy); then, one transaction per app, the declared hooks
    (a museum card ends), anonymisations and deletions; last, the request is closed and
    the confirmation is e-mailed to the address as it was before the erasure.
    Raises: SubjectRequestError for a request that is not an open erasure request, or
    whose erasure was approved before.
    """
    now = now or timezone.now()
    source = within or registry
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        if request.kind != SubjectRequest.Kind.ERASURE:
            raise SubjectRequestError(_("Only an erasure request can erase data."))
        if request.events.filter(action="erasure_approved").exists():
            # A second approval (two DPOs at once, a double click) must not erase twice;
            # an erasure cut short is finished by manage.py privacy_replay_erasures.
            raise SubjectRequestError(_("This erasure has already been approved."))
        preview = erasure_preview(email=request.email, user=request.user, now=now, within=source)
        record = ErasureRecord.objects.create(
            performed_at=now,
            request_public_id=request.public_id,
            subject_digest=subject_digest(request.email),
            plan=preview.plan,
        )
        ProcessingRestriction.objects.get_or_create(
            email=request.email,
            kind=ProcessingRestriction.Kind.MARKETING_OBJECTION,
            lifted_at=None,
            defaults={"request": request},
        )
        summary = ", ".join(
            f"{item.key}: {item.action} {item.count}" for item in preview.items if item.pks
        )
        _event(request, action="erasure_approved", actor=actor, note=summary, now=now)
    _apply_plan(record.plan, source=source, now=now)
    with transaction.atomic():
        request = _locked(request)
        request.status = SubjectRequest.Status.DONE
        request.closed_at = now
        request.outcome = _(
            "Your personal data was erased, except what the law obliges us to keep."
        )
        request.save(update_fields=["status", "closed_at", "outcome", "updated_at"])
        _event(request, action="erased", actor=actor, note=f"record {record.pk}", now=now)
        kept = sorted(
            {item.reason for item in preview.items if item.action != ErasureKind.DELETE} - {""}
        )
        email_enqueue(
            dedupe_key=f"privacy.request.erased:{request.public_id}",
            to=request.email,
            template="privacy/erasure_done",
            context={"kept": kept},
            language=request.language,
        )
    return record


def erasure_replay(
    *, record: ErasureRecord, now: dt.datetime | None = None, within: PrivacyRegistry | None = None
) -> ErasureRecord:
    """Apply an erasure again by its plan's keys (after a backup was restored).

    Rows already gone are skipped; the hooks run again (a restored card ends again).
    Declarations no longer known are skipped. Side effects: the rows of the plan, and
    the record's ``replayed_at``.
    """
    now = now or timezone.now()
    source = within or registry
    known = {d.key for d in source.declarations}
    plan = {key: entry for key, entry in record.plan.items() if key in known}
    _apply_plan(plan, source=source, now=now)
    record.replayed_at = now
    record.save(update_fields=["replayed_at"])
    return record
