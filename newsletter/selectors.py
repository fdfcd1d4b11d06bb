"""Reads of newsletter consent. No writes here."""

from __future__ import annotations

from django.db.models import QuerySet

from newsletter.models import NewsletterConsent


def consents_for_email(email: str) -> QuerySet[NewsletterConsent]:
    """Every consent given or withdrawn for ``email``, newest first."""
    return NewsletterConsent.objects.filter(email=email.strip().lower()).order_by(
        "-recorded_at", "-pk"
    )


def consent_is_given(email: str) -> bool:
    """True when the latest record for ``email`` is a consent (not a withdrawal)."""
    latest = consents_for_email(email).only("given").first()
    return bool(latest and latest.given)
