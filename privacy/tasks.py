"""Celery wrappers of the privacy app's services: one service call each."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from privacy import purge


@shared_task
def nightly_purge(
    dry_run: bool = False, only_rule: str = "", triggered_by_id: int | None = None
) -> int:
    """Apply the retention rules now (nightly from beat, or "Run now" in the admin).

    Resumes an unfinished run of the last day instead of starting over, so a crashed or
    retried task finishes the work once. A full real run then warns the people whose
    account an inactivity rule anonymises within PRIVACY_INACTIVITY_NOTICE_DAYS (default
    30; 0 switches the notice off). Returns the PurgeRun's id.
    Side effects: see ``privacy.purge.purge_run`` and ``purge_send_inactivity_notices``.
    """
    from django.contrib.auth import get_user_model

    user = None
    if triggered_by_id is not None:
        user = get_user_model().objects.filter(pk=triggered_by_id).first()
    run = purge.purge_run(dry_run=dry_run, only_rule=only_rule, triggered_by=user)
    notice_days = getattr(settings, "PRIVACY_INACTIVITY_NOTICE_DAYS", 30)
    if not dry_run and not only_rule and notice_days:
        purge.purge_send_inactivity_notices(as_of=run.as_of, notice_days=notice_days)
    return run.pk


@shared_task
def flush_page_views() -> int:
    """Write the page views counted in Redis to the statistics table."""
    from privacy.stats import page_views_flush

    return page_views_flush()
