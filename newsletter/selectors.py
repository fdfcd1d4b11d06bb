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


def newsletter_may_send(email: str) -> bool:
    """True when the newsletter may go to ``email``: the latest record is a consent and
    the person has neither restricted processing nor objected to marketing.

    The mailing asks this for each address (and queues with purpose MARKETING, which the
    outbox checks again). An objection outranks a consent ticked later at a checkout,
    where anyone can type any address. Two queries; no writes.
    """
    from privacy.selectors import is_restricted

    return consent_is_given(email) and not is_restricted(email=email, purpose="marketing")
