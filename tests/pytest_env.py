"""Loaded with ``-p`` before pytest-django sets Django up: the suite's environment.

The tests run against PostgreSQL and Redis (DATABASE_URL / REDIS_URL, else the local
defaults). If either does not answer, the run stops at once and says how to start it.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/museum")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("EMAIL_PROVIDER", "test")
os.environ.setdefault("MUSEUM_SITE_URL", "http://testserver")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=3
        ):
            return True
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    problems = []
    if not _reachable(os.environ["DATABASE_URL"], 5432):
        problems.append(
            f"PostgreSQL is not answering at {os.environ['DATABASE_URL']}. Start it "
            "(`pg_ctlcluster 15 main start`, or `docker compose up -d postgres` with "
            "DATABASE_URL=postgres://museum:museum@127.0.0.1:5432/museum) or set DATABASE_URL."
        )
    if not _reachable(os.environ["REDIS_URL"], 6379):
        problems.append(
            f"Redis is not answering at {os.environ['REDIS_URL']}. Start it "
            "(`redis-server --daemonize yes`, or `docker compose up -d redis`) or set REDIS_URL."
        )
    if problems:
        raise pytest.UsageError("\n".join(problems))
