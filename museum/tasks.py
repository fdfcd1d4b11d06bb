"""Celery tasks of the shared package."""

from celery import shared_task

from museum import emails


@shared_task(
    bind=True, autoretry_for=(Exception,), retry_backoff=30, retry_kwargs={"max_retries": 8}
)
def send_email(self, email_id: int) -> bool:
    """Send one outbox e-mail; safe to run twice (the second run sends nothing)."""
    return emails.email_send(email_id=email_id)


@shared_task
def retry_stale_emails() -> int:
    """Queue again the e-mails whose sending failed or whose worker died."""
    ids = emails.emails_requeue_stale()
    for email_id in ids:
        send_email.delay(email_id)
    return len(ids)
