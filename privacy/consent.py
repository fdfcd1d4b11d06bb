"""The consent ledger for marketing and cookies (the newsletter keeps its own ledger).

Every give and every withdrawal is a new ConsentRecord with the wording shown, its
version, the channel and the time; the current choice is the latest row. A browser's
cookie choice is tied to a random first-party id in an essential cookie
(``COOKIE_NAME``), set only when the visitor answers the banner.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext, override

from privacy.models import ConsentRecord, TrackerSetting

Purpose = ConsentRecord.Purpose
Channel = ConsentRecord.Channel

# Bump a version whenever its wording changes: each record keeps what was shown.
MARKETING_WORDING_VERSION = "2026-11-1"
COOKIES_WORDING_VERSION = "2026-11-1"

COOKIE_NAME = "museum_consent"
COOKIE_MAX_AGE = 180 * 24 * 3600  # ask again after six months
CONSENT_ID = re.compile(r"^[A-Za-z0-9_-]{22,64}$")

TRACKER_PURPOSE: dict[str, str] = {
    TrackerSetting.Purpose.ANALYTICS: Purpose.COOKIES_ANALYTICS,
    TrackerSetting.Purpose.MARKETING: Purpose.COOKIES_MARKETING,
}


class ConsentError(ValueError):
    """A consent that cannot be recorded (no person or browser to tie it to)."""


def consent_wording(*, purpose: str, given: bool, trackers: str = "") -> tuple[str, str]:
    """The wording shown for giving or withdrawing ``purpose`` (active language) and its version."""
    if purpose == Purpose.MARKETING:
        text = (
            gettext(
                "Yes, send me offers and invitations to events by e-mail. "
                "I can withdraw this at any time on my account page."
            )
            if given
            else gettext("No, do not send me offers and invitations by e-mail.")
        )
        return text, MARKETING_WORDING_VERSION
    kind = (
        gettext("measure visits to this website")
        if purpose == Purpose.COOKIES_ANALYTICS
        else gettext("show you the museum's advertising on other websites")
    )
    if given:
        text = gettext(
            "I accept cookies from %(trackers)s to %(kind)s. They send data about my visit "
            "to these providers."
        )
    else:
        text = gettext("I refuse cookies from %(trackers)s to %(kind)s.")
    return text % {"trackers": trackers, "kind": kind}, COOKIES_WORDING_VERSION


def _record(
    *,
    purpose: str,
    given: bool,
    channel: str,
    language: str,
    email: str = "",
    user=None,
    consent_id: str = "",
    trackers: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    if purpose not in Purpose.values:
        raise ConsentError(f"Unknown consent purpose {purpose!r}.")
    if user is not None and not getattr(user, "is_authenticated", False):
        user = None
    email = (email or getattr(user, "email", "") or "").strip().lower()
    if consent_id and not CONSENT_ID.match(consent_id):
        raise ConsentError("Malformed browser consent id.")
    if not (email or user or consent_id):
        raise ConsentError("A consent needs an e-mail address, an account or a browser id.")
    with override(language):
        wording, version = consent_wording(purpose=purpose, given=given, trackers=trackers)
    return ConsentRecord.objects.create(
        email=email,
        user=user,
        consent_id=consent_id,
        purpose=purpose,
        given=given,
        wording=wording,
        wording_version=version,
        language=language,
        channel=channel,
        recorded_at=now or timezone.now(),
    )


def consent_give(
    *,
    purpose: str,
    channel: str,
    language: str,
    email: str = "",
    user=None,
    consent_id: str = "",
    trackers: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Record that a person (e-mail/account) or a browser (consent id) gave ``purpose``.

    Side effects: one ConsentRecord row (the ledger is never rewritten).
    Raises: ConsentError without a person or browser, or for an unknown purpose.
    """
    return _record(
        purpose=purpose,
        given=True,
        channel=channel,
        language=language,
        email=email,
        user=user,
        consent_id=consent_id,
        trackers=trackers,
        now=now,
    )


def consent_withdraw(
    *,
    purpose: str,
    channel: str,
    language: str,
    email: str = "",
    user=None,
    consent_id: str = "",
    trackers: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Record that a person or a browser withdrew (or refused) ``purpose``.

    Side effects: one ConsentRecord row.
    Raises: ConsentError without a person or browser, or for an unknown purpose.
    """
    return _record(
        purpose=purpose,
        given=False,
        channel=channel,
        language=language,
        email=email,
        user=user,
        consent_id=consent_id,
        trackers=trackers,
        now=now,
    )


def consent_latest(
    *, purpose: str, user=None, email: str = "", consent_id: str = ""
) -> ConsentRecord | None:
    """The latest record for the purpose and the account, address or browser; None if none."""
    records = ConsentRecord.objects.filter(purpose=purpose)
    if consent_id:
        records = records.filter(consent_id=consent_id)
    elif user is not None:
        records = records.filter(user=user)
    elif email:
        records = records.filter(email=email.strip().lower())
    else:
        return None
    return records.order_by("-recorded_at", "-pk").first()


def consent_is_given(*, purpose: str, user=None, email: str = "", consent_id: str = "") -> bool:
    """Whether the latest record for the purpose gives consent (no record: not given)."""
    latest = consent_latest(purpose=purpose, user=user, email=email, consent_id=consent_id)
    return bool(latest and latest.given)


def consent_history(*, user, purpose: str = Purpose.MARKETING) -> list[ConsentRecord]:
    """Every record of an account for the purpose, newest first."""
    return list(ConsentRecord.objects.filter(user=user, purpose=purpose).order_by("-recorded_at"))


# --- Cookies ---------------------------------------------------------------------------


def new_consent_id() -> str:
    """A random first-party id for a browser's cookie choice (no meaning, not guessable)."""
    return secrets.token_urlsafe(24)


def consent_id_from(request: HttpRequest) -> str:
    """The browser's consent id from its cookie, or "" when absent or malformed."""
    value = request.COOKIES.get(COOKIE_NAME, "")
    return value if CONSENT_ID.match(value) else ""


@dataclass
class CookieState:
    """What a page shows about cookies: the banner, and the scripts the visitor accepted."""

    trackers: list[TrackerSetting] = field(default_factory=list)
    choices: dict[str, bool] = field(default_factory=dict)

    @property
    def purposes(self) -> list[str]:
        return sorted({TRACKER_PURPOSE[t.purpose] for t in self.trackers})

    @property
    def banner(self) -> bool:
        """Shown while a configured tracker's purpose has no answer from this browser."""
        return any(purpose not in self.choices for purpose in self.purposes)

    @property
    def scripts(self) -> list[TrackerSetting]:
        """Trackers whose purpose this browser accepted: only these are rendered."""
        return [t for t in self.trackers if self.choices.get(TRACKER_PURPOSE[t.purpose])]

    @property
    def all_names(self) -> str:
        return ", ".join(t.name for t in self.trackers)

    @property
    def rows(self) -> list[tuple[TrackerSetting, bool | None]]:
        """Each tracker with this browser's answer for its purpose (None: not asked yet)."""
        return [(t, self.choices.get(TRACKER_PURPOSE[t.purpose])) for t in self.trackers]

    def names(self, purpose: str) -> str:
        return ", ".join(t.name for t in self.trackers if TRACKER_PURPOSE[t.purpose] == purpose)


ACTIVE_TRACKERS_KEY = "privacy:active-trackers"
ACTIVE_TRACKERS_SECONDS = 60


def active_trackers() -> list[TrackerSetting]:
    """The configured third-party trackers that are switched on.

    Asked on every page, so kept in the cache for a minute (no query on most pages); the
    tracker admin forgets it whenever a tracker is saved or deleted.
    """
    trackers = cache.get(ACTIVE_TRACKERS_KEY)
    if trackers is None:
        trackers = list(TrackerSetting.objects.filter(is_active=True))
        cache.set(ACTIVE_TRACKERS_KEY, trackers, ACTIVE_TRACKERS_SECONDS)
    return list(trackers)


def active_trackers_forget() -> None:
    """Drop the cached tracker list (after a change in the admin)."""
    cache.delete(ACTIVE_TRACKERS_KEY)


def cookie_state(request: HttpRequest) -> CookieState:
    """The active trackers and this browser's latest choices (computed once per request).

    One query for the trackers; one more for the choices only when a tracker is active
    and the browser carries a consent id.
    """
    cached = getattr(request, "_privacy_cookie_state", None)
    if cached is not None:
        return cached
    state = CookieState(trackers=active_trackers())
    consent_id = consent_id_from(request)
    if state.trackers and consent_id:
        for record in ConsentRecord.objects.filter(
            consent_id=consent_id, purpose__in=state.purposes
        ).order_by("-recorded_at", "-pk"):
            state.choices.setdefault(record.purpose, record.given)
    request._privacy_cookie_state = state  # type: ignore[attr-defined]
    return state


def cookie_consent(request: HttpRequest) -> dict:
    """Context processor: ``cookie_consent`` for the banner and the accepted scripts (lazy)."""
    return {"cookie_consent": SimpleLazyObject(lambda: cookie_state(request))}
