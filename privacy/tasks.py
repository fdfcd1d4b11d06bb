"""Celery wrappers of the privacy app's services: one service call each."""

from __future__ import annotations

from celery import shared_task

from privacy import purge


@shared_task
def nightly_purge(
    dry_run: bool = False, only_rule: str = "", triggered_by_id: int | None = None
) -> int:
    """Apply the retention rules now (nightly from beat, or "Run now" in the admin).

    Resumes an unfinished run of the last day instead of starting over, so a crashed or
    retried task finishes the work once. Returns the PurgeRun's id.
    Side effects: see ``privacy.purge.purge_run``.
    """
    from django.contrib.auth import get_user_model

    user = None
    if triggered_by_id is not None:
        user = get_user_model().objects.filter(pk=triggered_by_id).first()
    run = purge.purge_run(dry_run=dry_run, only_rule=only_rule, triggered_by=user)
    return run.pk
