"""Shared fixtures. The environment (PostgreSQL, Redis) is set in tests/pytest_env.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
