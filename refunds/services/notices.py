"""Telling resellers that their orders were cancelled: readable by the API, POSTed if asked."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from museum.audit import audit_record
from refunds.models import Campaign, ResellerNotice
from ticketing.models import Order, Reseller


def reseller_notice_record(
    *,
    order: Order,
    kind: str,
    dedupe_key: str,
    data: dict[str, Any],
    campaign: Campaign | None = None,
    now: dt.datetime | None = None,
) -> ResellerNotice | None:
    """Record a notice about a reseller's order, once per ``dedupe_key``.

    The reseller reads it through the API; with a webhook address configured, a task
    POSTs it after commit. Returns None for an order of no reseller.
    Side effects: a ResellerNotice row; a delivery task after commit.
    """
    if order.reseller_id is None:
        return None
    now = now or timezone.now()
    payload = {
        "type": kind,
        "created": now.isoformat(),
        "order": {
            "code": order.code,
            "reseller_reference": order.reseller_reference,
            "status": order.status,
        },
        **data,
    }
    try:
        with transaction.atomic():
            notice = ResellerNotice.objects.create(
                reseller_id=order.reseller_id,
                order=order,
                campaign=campaign,
                kind=kind,
                dedupe_key=dedupe_key,
                payload=payload,
            )
    except IntegrityError:
        return ResellerNotice.objects.get(dedupe_key=dedupe_key)
    from refunds.tasks import deliver_reseller_notice

    notice_id = notice.pk
    transaction.on_commit(lambda: deliver_reseller_notice.delay(notice_id))
    return notice


# --- Delivery to the reseller's webhook ---------------------------------------------------

SIGNATURE_HEADER = "Museum-Signature"
NOTICE_ID_HEADER = "Museum-Notice-Id"
# Seconds to connect and to read the answer: a slow receiver must not hold a worker.
DELIVERY_TIMEOUT = 10
# A receiver should refuse a signature older than this (replayed requests).
SIGNATURE_TOLERANCE = 300


class NoticeDeliveryError(Exception):
    """The reseller's webhook did not take the notice (network error or a non-2xx answer)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET somewhere else: treat it as a failure.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def reseller_notice_body(notice: ResellerNotice) -> dict[str, Any]:
    """What is POSTed and what the API lists: the stored payload with the notice's id."""
    return {"id": str(notice.public_id), **notice.payload}


def reseller_notice_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``Museum-Signature`` header value: ``t=<unix>,v1=<hex HMAC-SHA256>``.

    The HMAC covers ``"<t>.<body>"`` with the reseller's webhook secret, as Stripe signs
    its webhooks; the receiver recomputes it and refuses an old ``t``.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def reseller_webhook_secret_rotate(*, reseller: Reseller, actor=None) -> str:
    """Give the reseller a new webhook signing secret and return it.

    Notices POSTed from now on are signed with the new secret only.
    Side effects: Reseller.webhook_secret, an audit event (without the secret).
    """
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        Reseller.objects.filter(pk=reseller.pk).update(
            webhook_secret=secret, updated_at=timezone.now()
        )
        reseller.webhook_secret = secret
        audit_record(action="reseller.webhook_secret_rotated", subject=reseller, actor=actor)
    return secret


def reseller_notice_deliver(*, notice_id: int, now: dt.datetime | None = None) -> bool:
    """POST one notice, signed, to its reseller's webhook; True when this call delivered it.

    Returns False without a request when the notice was already delivered, or when the
    reseller has no webhook address, no signing secret or an address that is not http(s)
    (the API still lists the notice).
    No lock is held during the request; two overlapping deliveries may both POST, so
    receivers dedupe on the notice id (``Museum-Notice-Id``, and ``id`` in the body).
    Side effects: one HTTP POST; ``delivered_at`` on a 2xx answer, otherwise
    ``attempts`` + 1 and ``last_error``.
    Raises: NoticeDeliveryError when the receiver failed or answered other than 2xx, so
    that the task retries with back-off.
    """
    now = now or timezone.now()
    notice = ResellerNotice.objects.select_related("reseller").get(pk=notice_id)
    reseller = notice.reseller
    if notice.delivered_at is not None or not reseller.webhook_url:
        return False
    if not reseller.webhook_secret:
        ResellerNotice.objects.filter(pk=notice.pk).update(
            last_error="no webhook signing secret", updated_at=now
        )
        return False
    if urllib.parse.urlsplit(reseller.webhook_url).scheme not in ("http", "https"):
        ResellerNotice.objects.filter(pk=notice.pk).update(
            last_error="webhook address is not http(s)", updated_at=now
        )
        return False
    body = json.dumps(reseller_notice_body(notice), separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now.timestamp())
    request = urllib.request.Request(  # noqa: S310  http(s) only, checked above
        reseller.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "museum-ticketing-webhooks/1",
            SIGNATURE_HEADER: reseller_notice_signature(
                secret=reseller.webhook_secret, timestamp=timestamp, body=body
            ),
            NOTICE_ID_HEADER: str(notice.public_id),
        },
    )
    error = ""
    try:
        with _opener.open(request, timeout=DELIVERY_TIMEOUT) as response:
            response.read(1024)
            if not 200 <= response.status < 300:
                error = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        error = f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, a malformed address
        error = f"{exc.__class__.__name__}: {exc}"
    if error:
        ResellerNotice.objects.filter(pk=notice.pk).update(
            attempts=F("attempts") + 1, last_error=error[:300], updated_at=now
        )
        raise NoticeDeliveryError(error)
    ResellerNotice.objects.filter(pk=notice.pk, delivered_at__isnull=True).update(
        delivered_at=now, attempts=F("attempts") + 1, last_error="", updated_at=now
    )
    return True


# --- Reading ------------------------------------------------------------------------------


def reseller_notices_after(
    *, reseller: Reseller, after: uuid.UUID | None = None, limit: int = 50
) -> tuple[list[ResellerNotice], bool] | None:
    """The reseller's own notices, oldest first, following the notice ``after``.

    Returns up to ``limit`` notices and whether more follow; None when ``after`` is not
    the id of one of this reseller's notices (another reseller's id included). A read.
    """
    notices = ResellerNotice.objects.filter(reseller=reseller).select_related("order")
    if after is not None:
        cursor = (
            ResellerNotice.objects.filter(reseller=reseller, public_id=after)
            .values_list("created_at", "pk")
            .first()
        )
        if cursor is None:
            return None
        created_at, pk = cursor
        notices = notices.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk))
    rows = list(notices.order_by("created_at", "pk")[: limit + 1])
    return rows[:limit], len(rows) > limit
