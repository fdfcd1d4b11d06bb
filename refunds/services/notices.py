"""Telling resellers that their orders were cancelled: readable by the API, POSTed if asked."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from refunds.models import Campaign, ResellerNotice
from ticketing.models import Order


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
