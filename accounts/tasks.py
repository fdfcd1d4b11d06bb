"""Celery wrappers of the accounts app's services: one service call each."""

from celery import shared_task

from accounts.services import cards


@shared_task
def send_due_gift_cards() -> int:
    """Send the gift-card e-mails whose delivery day has come (daily; safe to run twice)."""
    return cards.card_gifts_send_due()
