"""Safe retries for the reseller API: one answer per (reseller, Idempotency-Key)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction

from ticketing.api.errors import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
)
from ticketing.models import ApiIdempotencyKey, Reseller

HEADER = "Idempotency-Key"
# Printable ASCII only: keys are stored as text and compared byte for byte.
KEY_PATTERN = re.compile(r"[\x20-\x7e]{1,255}")


@dataclass(frozen=True)
class IdempotentResult:
    status: int
    body: Any
    replayed: bool


def idempotency_key_clean(raw: str | None) -> str | None:
    """The key of the request's header, None without one.

    Raises: InvalidIdempotencyKey when the header is empty, too long or not printable ASCII.
    """
    if raw is None:
        return None
    if not KEY_PATTERN.fullmatch(raw) or not raw.strip():
        raise InvalidIdempotencyKey()
    return raw


def request_fingerprint(*, method: str, path: str, data: Any) -> str:
    """SHA-256 of the request as understood (method, path, parsed body in canonical form)."""
    canonical = json.dumps(
        {"method": method, "path": path, "body": data},
        sort_keys=True,
        separators=(",", ":"),
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_call(
    *,
    reseller: Reseller,
    key: str,
    fingerprint: str,
    call: Callable[[], tuple[int, Any]],
) -> IdempotentResult:
    """Run ``call`` once per (reseller, key) and replay its stored answer afterwards.

    The key row is inserted first, in the same transaction as ``call``: a concurrent
    request with the same key blocks on the unique index until this one commits, then
    replays the stored answer (or runs itself if this one failed and rolled back).
    Only successful answers are stored; when ``call`` raises (bad input, sold out, …)
    everything it wrote and the key row are rolled back, so the key can be retried.
    ``call`` returns (status, JSON-serialisable body).
    Side effects: an ApiIdempotencyKey row, plus whatever ``call`` writes.
    Raises: IdempotencyKeyReused when the key was used for another request,
    IdempotencyKeyInProgress when its first request has no answer yet; whatever
    ``call`` raises.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ApiIdempotencyKey.objects.create(
                    reseller=reseller, key=key, request_hash=fingerprint
                )
        except IntegrityError:
            existing = ApiIdempotencyKey.objects.get(reseller=reseller, key=key)
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused() from None
            if existing.response_status is None:
                raise IdempotencyKeyInProgress() from None
            return IdempotentResult(
                status=existing.response_status, body=existing.response_body, replayed=True
            )
        status, body = call()
        # Store exactly what the client receives (UUIDs and dates as strings).
        body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
        record.response_status = status
        record.response_body = body
        record.save(update_fields=["response_status", "response_body"])
    return IdempotentResult(status=status, body=body, replayed=False)


def idempotency_keys_purge(*, older_than_days: int = 7, now=None) -> int:
    """Delete stored answers older than ``older_than_days``; returns how many.

    Resellers retry within minutes or hours; a week is far beyond any retry window.
    Side effects: deletes ApiIdempotencyKey rows.
    """
    import datetime as dt

    from django.utils import timezone

    cutoff = (now or timezone.now()) - dt.timedelta(days=older_than_days)
    deleted, _ = ApiIdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
