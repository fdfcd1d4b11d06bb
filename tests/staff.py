"""Staff users for tests: in their groups, with the authenticator app staff must have.

Staff without a second factor are sent to set one up before any admin page or the
check-in page (museum.staff.StaffTwoFactorMiddleware). A test that works in the admin as
staff gives its user an authenticator first: ``staff_user(...)`` does it by default, or
``totp_activate(user)`` for a user made elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

from django.contrib.auth.models import Group

from accounts.models import User

TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6


def totp_code(secret: str, *, at: float | None = None) -> str:
    """The RFC 6238 code of a base32 ``secret`` at unix time ``at`` (now): SHA-1, 30 s, 6 digits."""
    key = base64.b32decode(secret.replace(" ", "").upper())
    counter = int((time.time() if at is None else at) // TOTP_STEP_SECONDS)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"


def fresh_totp_code(secret: str) -> str:
    """The current code, waiting for the next step when this one is about to end."""
    left = TOTP_STEP_SECONDS - time.time() % TOTP_STEP_SECONDS
    if left < 3:
        time.sleep(left + 0.1)
    return totp_code(secret)


def totp_activate(user: User) -> str:
    """Give ``user`` an authenticator app (TOTP) with a new secret; returns the secret."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def staff_user(
    email: str,
    *groups: str,
    password: str | None = None,
    with_totp: bool = True,
    verified_email: bool = False,
) -> User:
    """An ``is_staff`` user in ``groups`` (by name, as the migrations create them)."""
    user = User.objects.create_user(email=email, password=password, is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get(name=name))
    if with_totp:
        totp_activate(user)
    if verified_email:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user
