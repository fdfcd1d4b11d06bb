"""Resellers: partners that sell tickets through the API with their own bearer token."""

from __future__ import annotations

import secrets

from django.db import transaction

from museum.audit import audit_record
from ticketing.api.auth import hash_token
from ticketing.models import Reseller


def reseller_create(*, name: str, contact_email: str, actor=None) -> tuple[Reseller, str]:
    """Create an active reseller and return it with its API token.

    The token is returned once and never stored: only its SHA-256 hash and its first
    eight characters (to recognise it in the admin) are kept.
    Side effects: a Reseller row and an audit event.
    """
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        reseller = Reseller.objects.create(
            name=name.strip(),
            contact_email=contact_email.strip().lower(),
            token_hash=hash_token(token),
            token_prefix=token[:8],
        )
        audit_record(
            action="reseller.created",
            subject=reseller,
            actor=actor,
            data={"token_prefix": reseller.token_prefix},
        )
    return reseller, token
