"""Celery wrappers of refund services: ids in, one service call, a retry policy."""

from __future__ import annotations

from celery import shared_task


@shared_task
def process_campaign(campaign_id: int) -> bool:
    """Handle one chunk of a campaign's orders, and queue the next chunk if any remain."""
    from refunds.services.campaigns import campaign_process

    more = campaign_process(campaign_id=campaign_id)
    if more:
        process_campaign.delay(campaign_id)
    return more


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=60, retry_kwargs={"max_retries": 10}
)
def send_refund(self, refund_id: int) -> str:
    """Ask the provider to pay an approved refund back; its idempotency key makes it once."""
    from refunds.services.refunds import refund_send

    return refund_send(refund_id=refund_id)


@shared_task
def apply_default_choices() -> int:
    """Apply the campaign's default to offers nobody answered in time."""
    from refunds.services.refunds import refunds_apply_defaults

    return refunds_apply_defaults()


@shared_task
def resend_stale_refunds() -> int:
    """Send again card refunds claimed by a worker that never got the provider's answer."""
    from refunds.services.refunds import refunds_resend_stale

    return refunds_resend_stale()


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=30, retry_kwargs={"max_retries": 8}
)
def deliver_reseller_notice(self, notice_id: int) -> bool:
    """POST a notice to the reseller's webhook, if it has one; retried with back-off."""
    from refunds.services.notices import reseller_notice_deliver

    return reseller_notice_deliver(notice_id=notice_id)
