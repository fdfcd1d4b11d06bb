"""Reseller authentication: a bearer token per reseller, stored only as a hash."""

from __future__ import annotations

import hashlib

from rest_framework import authentication, exceptions, permissions, throttling

from ticketing.models import Reseller


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResellerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        reseller = Reseller.objects.filter(token_hash=hash_token(header[1]), is_active=True).first()
        if reseller is None:
            raise exceptions.AuthenticationFailed("Unknown or inactive token.")
        return (None, reseller)

    def authenticate_header(self, request):
        return self.keyword


class IsReseller(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, Reseller)


class ResellerRateThrottle(throttling.SimpleRateThrottle):
    scope = "reseller"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, Reseller):
            return f"throttle_reseller_{request.auth.pk}"
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
