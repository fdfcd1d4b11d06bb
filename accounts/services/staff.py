"""Staff accounts: who counts as staff, and the audit trail of their sign-ins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q

from accounts.models import User
from museum.audit import audit_record
from museum.models import AuditEvent

# The sign-in events written to the audit log (AuditEvent.action).
SIGN_IN = "staff.sign_in"
SIGN_IN_FAILED = "staff.sign_in_failed"
SECOND_FACTOR_FAILED = "staff.second_factor_failed"
SECOND_FACTOR_ADDED = "staff.second_factor_added"
SECOND_FACTOR_REMOVED = "staff.second_factor_removed"
SIGN_IN_EVENTS = (
    SIGN_IN,
    SIGN_IN_FAILED,
    SECOND_FACTOR_FAILED,
    SECOND_FACTOR_ADDED,
    SECOND_FACTOR_REMOVED,
)
_FAILURES = (SIGN_IN_FAILED, SECOND_FACTOR_FAILED)


def user_is_staff(user: Any) -> bool:
    """True for anyone who works in the back office: staff, superusers, group members.

    Group members count even without ``is_staff``: a group grants staff permissions
    (e.g. checking tickets in at the entrance), so the same sign-in rules apply.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.pk:
        return False
    return bool(user.is_staff or user.is_superuser or user.groups.exists())


def staff_user_for_email(email: str) -> User | None:
    """The staff account that signs in with ``email``, or None (unknown or not staff)."""
    address = (email or "").strip()
    if not address:
        return None
    return (
        User.objects.filter(email__iexact=address)
        .filter(Q(is_staff=True) | Q(is_superuser=True) | Q(groups__isnull=False))
        .distinct()
        .first()
    )


def staff_sign_in_record(
    *,
    action: str,
    user: User | None = None,
    email: str = "",
    client: str = "",
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent | None:
    """Write one audit event for a staff sign-in, a failed attempt or a second-factor change.

    ``action`` is one of SIGN_IN_EVENTS. ``user`` is the account concerned; for a failed
    password attempt only the ``email`` typed is known, and the event is written only when
    it names a staff account (visitors' typos are not kept). ``client`` is the client's
    address. Never pass a password or a code: ``details`` is stored as it is.
    Returns the event, or None when the account is not a staff account.
    Side effects: one AuditEvent row (subject: the staff user).
    Raises: ValueError for an unknown ``action``.
    """
    if action not in SIGN_IN_EVENTS:
        raise ValueError(f"Unknown staff sign-in event: {action}")
    if user is None or not user.pk:
        user = staff_user_for_email(email)
    elif not user_is_staff(user):
        user = None
    if user is None:
        return None
    data: dict[str, Any] = {"email": (email or user.email).strip().lower()[:254]}
    if client:
        data["client"] = client
    data.update(details or {})
    failed = action in _FAILURES
    return audit_record(
        action=action,
        subject=user,
        # A failed attempt is not the account holder's act until proven otherwise.
        actor=None if failed else user,
        actor_label="anonymous" if failed else "",
        data=data,
        now=now,
    )
