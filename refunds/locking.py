"""The only place the refunds app takes row locks: order first, then the refund."""

from __future__ import annotations

from refunds.models import Campaign, Refund


def lock_refund(refund_id: int) -> Refund:
    return Refund.objects.select_for_update(of=("self",)).select_related("order").get(pk=refund_id)


def lock_campaign(campaign_id: int) -> Campaign:
    return Campaign.objects.select_for_update().get(pk=campaign_id)
