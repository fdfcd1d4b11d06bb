"""Fixtures shared by the refunds tests."""

import pytest  # noqa: E402

from tests.ticketing.conftest import fake_stripe  # noqa: F401  the fake Stripe over HTTP


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """``with run_tasks(): ...`` runs what the block queues after commit (Celery is eager),
    including what those tasks queue in turn, as a worker would once the data commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
