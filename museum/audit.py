"""The one way to write an audit event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.utils import timezone

from museum.models import AuditEvent


def audit_record(
    *,
    action: str,
    subject: models.Model,
    actor: Any = None,
    actor_label: str = "",
    data: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    """Append an audit event for ``subject``; call it inside the service's transaction.

    ``actor`` is a user or None (the public, a reseller or the system; then
    ``actor_label`` says which). Side effects: one row in AuditEvent.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        occurred_at=now or timezone.now(),
        actor=user,
        actor_label=actor_label or (user.get_username() if user else "system"),
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        data=data or {},
    )


def audit_record_many(
    *,
    action: str,
    events: list[tuple[models.Model, dict[str, Any]]],
    actor_label: str = "system",
    now: dt.datetime | None = None,
) -> None:
    """Append one audit event per (subject, data) pair in one statement (a campaign's chunk).

    Side effects: rows in AuditEvent.
    """
    when = now or timezone.now()
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                occurred_at=when,
                actor=None,
                actor_label=actor_label,
                action=action,
                subject_type=subject._meta.label_lower,
                subject_id=str(subject.pk),
                data=data,
            )
            for subject, data in events
        ]
    )
