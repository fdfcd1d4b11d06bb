"""A small fixed-window rate limiter on the cache, for public forms and lookups."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

_UNITS = {"s": 1, "m": 60, "h": 3600}


def _parse(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    number = int(period[:-1] or 1)
    return int(count), number * _UNITS[period[-1]]


def client_key(request: HttpRequest) -> str:
    """The client's address; behind a proxy the first hop set by the trusted proxy."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "unknown")


def is_limited(request: HttpRequest, *, scope: str, increment: bool = True) -> bool:
    """True when the client has used up the ``scope`` rate of settings.RATE_LIMITS."""
    limit, window = _parse(settings.RATE_LIMITS[scope])
    bucket = int(time.time() // window)
    key = f"rl:{scope}:{client_key(request)}:{bucket}"
    if not increment:
        return (cache.get(key) or 0) >= limit
    cache.add(key, 0, timeout=window + 1)
    try:
        used = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=window + 1)
        used = 1
    return used > limit
