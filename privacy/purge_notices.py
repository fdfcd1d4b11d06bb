"""The notice before anonymisation for inactivity: ``purge_send_inactivity_notices``.

Uses the purge's own selection (``privacy.purge_rows``) and holds (``privacy.purge_holds``),
so a notice goes only to rows the purge will really anonymise. Split from
``privacy.purge``, which still exports it.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from privacy.purge_holds import _holds, _without
from privacy.purge_rows import _due_rows, _local, _segments, retention_cutoff
from privacy.registry import registry
from privacy.retention import RetentionKind

__all__ = ["purge_send_inactivity_notices"]


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
