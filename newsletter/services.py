"""Recording newsletter consent exactly as it was given."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext, override

from newsletter.models import NewsletterConsent

# Bump the version whenever the wording changes: each consent keeps what was shown.
CHECKOUT_WORDING_VERSION = "2026-11-1"


def checkout_consent_wording() -> str:
    """The label of the (unticked) newsletter box at checkout, in the active language."""
    return gettext(
        "Yes, send me the museum's newsletter (about one e-mail a month). "
        "I can unsubscribe at any time with the link in every letter."
    )


def consent_record_at_checkout(
    *, email: str, name: str, language: str, order, user=None, now: dt.datetime | None = None
) -> NewsletterConsent:
    """Store a consent given by ticking the checkout box, with its wording and time.

    Side effects: one NewsletterConsent row.
    """
    with override(language):
        wording = checkout_consent_wording()
    return NewsletterConsent.objects.create(
        email=email.strip().lower(),
        name=name,
        language=language,
        given=True,
        wording=wording,
        wording_version=CHECKOUT_WORDING_VERSION,
        source=NewsletterConsent.Source.CHECKOUT,
        recorded_at=now or timezone.now(),
        user=user if getattr(user, "is_authenticated", False) else None,
        order=order,
    )


# The account page's own wording: a box the holder ticks or unticks at any time.
ACCOUNT_WORDING_VERSION = "2026-11-1"


def account_consent_wording(*, given: bool) -> str:
    """What the account page says when the holder gives or withdraws consent (active language)."""
    if given:
        return gettext(
            "Yes, send me the museum's newsletter (about one e-mail a month). "
            "I can unsubscribe at any time here or with the link in every letter."
        )
    return gettext("No, do not send me the museum's newsletter any more.")


def consent_record(
    *,
    email: str,
    name: str,
    language: str,
    given: bool,
    source: str,
    user=None,
    now: dt.datetime | None = None,
) -> NewsletterConsent:
    """Record that ``email`` gave or withdrew newsletter consent, with the wording shown.

    Every change is a new row: the history of consents and withdrawals is never rewritten.
    Side effects: one NewsletterConsent row.
    """
    with override(language):
        if source == NewsletterConsent.Source.ACCOUNT or not given:
            wording, version = account_consent_wording(given=given), ACCOUNT_WORDING_VERSION
        else:
            wording, version = checkout_consent_wording(), CHECKOUT_WORDING_VERSION
    return NewsletterConsent.objects.create(
        email=email.strip().lower(),
        name=name,
        language=language,
        given=given,
        wording=wording,
        wording_version=version,
        source=source,
        recorded_at=now or timezone.now(),
        user=user if getattr(user, "is_authenticated", False) else None,
    )
