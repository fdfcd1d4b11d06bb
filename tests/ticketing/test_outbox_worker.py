"""A real Celery worker on Redis sends the order e-mail exactly once, even if asked twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from museum.celery import app as celery_app
from museum.emails import email_enqueue
from museum.models import OutboxEmail
from museum.tasks import send_email
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(django_settings.BASE_DIR)
WAIT_SECONDS = 60


def _broker_url() -> str:
    # A Redis database of this test's own, so no other worker takes its tasks.
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0]
    return f"{base}/12"


def _wait_until(predicate, what: str, worker: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        if worker.poll() is not None:
            pytest.fail(f"the worker exited while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out after {WAIT_SECONDS}s waiting for {what}:\n{log.read_text()[-3000:]}")


def _status(email_id: int) -> str:
    return OutboxEmail.objects.values_list("status", flat=True).get(pk=email_id)


def _reset_broker_connections() -> None:
    """Drop the app's cached connections so that the next publish uses broker_url."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def queued_tasks_go_to_redis(settings):
    """Tasks of this process are published to the worker's broker instead of run eagerly."""
    broker = _broker_url()
    redis.Redis.from_url(broker).delete("celery")  # left-overs of an earlier, broken run
    before = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = broker
    _reset_broker_connections()
    yield broker
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = before
    _reset_broker_connections()


@pytest.fixture
def worker(queued_tasks_go_to_redis, tmp_path):
    """A real worker process on the test database, writing e-mails as files."""
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log = tmp_path / "worker.log"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": queued_tasks_go_to_redis,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_PROVIDER": "file",
        "EMAIL_FILE_PATH": str(mail_dir),
        "DATABASE_CONN_MAX_AGE": "0",
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "museum",
                "worker",
                "--pool=solo",
                "-Q",
                "celery",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, mail_dir, log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_a_real_worker_sends_the_order_email_once_even_when_the_task_is_sent_twice(worker):
    process, mail_dir, log = worker
    # given a desk sale with an e-mail address: its e-mail task is queued on Redis at commit
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="visitor@example.org",
        name="Visitor",
    )
    email = OutboxEmail.objects.get(dedupe_key=f"ticketing.order_tickets:{order.pk}:0")
    # when the worker has run it
    _wait_until(lambda: _status(email.pk) == OutboxEmail.Status.SENT, "the e-mail", process, log)
    # and the same task is sent twice more, followed by a marker e-mail
    send_email.delay(email.pk)
    send_email.delay(email.pk)
    marker = email_enqueue(
        dedupe_key="test:marker",
        to="marker@example.org",
        template="ticketing/late_payment_refund",
        context={"order_code": "MARKER", "name": "M", "order_url": "http://testserver/"},
        language="en",
    )
    # (one queue, one worker, one task at a time: the marker runs after the duplicates)
    _wait_until(lambda: _status(marker.pk) == OutboxEmail.Status.SENT, "the marker", process, log)
    # then the order e-mail was written exactly once, with its PDF, and the row is SENT
    files = sorted(mail_dir.iterdir())
    contents = [f.read_text(errors="replace") for f in files]
    order_mails = [c for c in contents if f"tickets-{order.code}.pdf" in c]
    assert len(order_mails) == 1
    assert "To: visitor@example.org" in order_mails[0]
    assert len(files) == 2
    email.refresh_from_db()
    assert email.status == OutboxEmail.Status.SENT
    assert email.attempts == 1
    log_text = log.read_text()
    assert log_text.count("museum.tasks.send_email[") >= 4  # received and run, 3 + marker
