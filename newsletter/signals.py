"""Receivers that adapt third-party hooks into one service call each (no rules here)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

# Seed 003: "no newsletter opened" is inactivity; a click means the letter was opened too.
ACTIVITY_EVENTS = frozenset({"opened", "clicked"})


def tracking_receiver(sender: Any, event: Any, esp_name: str = "", **kwargs: Any) -> None:
    """anymail's ``tracking`` signal (the provider's webhook, already authenticated by
    anymail): an e-mail opened or clicked is activity of the account with that address.

    The provider's time counts, but never later than now (a clock ahead, a forged event
    cannot push the account's activity into the future). Other events are ignored.
    Side effects: see ``accounts.services.users.account_activity_record``.
    """
    from accounts.services.users import account_activity_record

    recipient = getattr(event, "recipient", None) or ""
    if getattr(event, "event_type", None) not in ACTIVITY_EVENTS or not recipient:
        return
    now = timezone.now()
    when = getattr(event, "timestamp", None)
    if when is None or timezone.is_naive(when) or when > now:
        when = now
    account_activity_record(email=recipient, now=when)
