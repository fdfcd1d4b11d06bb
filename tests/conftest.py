"""Shared fixtures. The environment (PostgreSQL, Redis) is set in tests/pytest_env.py."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language, whatever a request before it activated."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


def pytest_collection_modifyitems(config, items):
    """Every transactional test restores the migrated data (groups, content types) after it.

    A transactional test empties the database when it ends; the browser tests and the
    permission tests need the rows that migrations create. Django can only put them back
    when every transactional test of the run uses ``serialized_rollback`` (otherwise the
    re-created content types collide), so it is switched on for all of them here.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None or not marker.kwargs.get("transaction"):
            continue
        if marker.kwargs.get("serialized_rollback"):
            continue
        item.add_marker(
            pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}),
            append=False,
        )
    # The real-worker tests point Celery at a broker and back; the kombu pools they close
    # are not usable by later transactional tests in the same process ("Acquire on closed
    # pool"). Run them last so that no test depends on the order of the modules.
    items.sort(key=lambda item: item.get_closest_marker("worker") is not None)
