"""The purge's entry points: the nightly task, the beat schedule and the command."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from privacy.models import PurgeRun
from privacy.tasks import nightly_purge
from tests.accounts.factories import UserFactory
from tests.privacy.test_purge import _buyer, _order, at
from ticketing.models import Order

pytestmark = pytest.mark.django_db


def test_beat_runs_the_purge_every_night_at_half_past_one():
    entry = settings.CELERY_BEAT_SCHEDULE["privacy-nightly-purge"]
    assert entry["task"] == "privacy.tasks.nightly_purge"
    assert entry["schedule"] == crontab(minute=30, hour=1)


def test_nightly_task_twice_anonymises_once():
    # given an order whose retention ended years ago, and a DPO
    order = _order(email="old@example.org", when=timezone.now() - dt.timedelta(days=365 * 8))
    dpo = UserFactory(is_staff=True)
    # when the task runs twice
    first = PurgeRun.objects.get(pk=nightly_purge.delay(triggered_by_id=dpo.pk).get())
    second = PurgeRun.objects.get(pk=nightly_purge.delay().get())
    # then the first run did the work and the second found nothing left
    assert first.status == PurgeRun.Status.DONE and first.triggered_by == dpo
    assert first.report["ticketing.order:buyer"]["deleted"] == 1
    assert second.report["ticketing.order:buyer"]["deleted"] == 0
    assert _buyer(order) == ("", "", None)


def test_nightly_dry_run_changes_nothing():
    order = _order(email="old@example.org", when=timezone.now() - dt.timedelta(days=365 * 8))
    run = PurgeRun.objects.get(
        pk=nightly_purge.delay(dry_run=True, only_rule="ticketing.order:buyer").get()
    )
    assert run.dry_run and run.report["ticketing.order:buyer"]["deleted"] == 1
    assert _buyer(order) == ("old@example.org", "Ada Lovelace", None)


def test_command_dry_run_prints_the_report_and_changes_nothing():
    order = _order(email="old@example.org", when=at(2019, 3, 1))
    out = StringIO()
    call_command(
        "privacy_purge",
        "--dry-run",
        "--rule",
        "ticketing.order:buyer",
        "--as-of",
        "2026-01-01",
        stdout=out,
    )
    run = PurgeRun.objects.get()
    assert (
        run.dry_run
        and run.as_of == at(2026, 1, 1, 0, 0)
        and run.only_rule == "ticketing.order:buyer"
    )
    text = out.getvalue()
    assert text.startswith(f"Dry run #{run.pk} as of 2026-01-01 00:00 (done)")
    buyers = next(line for line in text.splitlines() if line.startswith("ticketing.order:buyer"))
    assert re.search(r"deleted +1 ", buyers), text
    assert _buyer(order) == ("old@example.org", "Ada Lovelace", None)


def test_command_purges_for_real():
    order = _order(email="old@example.org", when=at(2019, 3, 1))
    call_command(
        "privacy_purge",
        "--rule",
        "ticketing.order:buyer",
        "--as-of",
        "2026-01-01",
        stdout=StringIO(),
    )
    assert _buyer(order) == ("", "", None)
    assert Order.objects.get(pk=order.pk).total_cents == 1400


@pytest.mark.parametrize("args", [["--as-of", "2026-13-01"], ["--rule", "no.such.rule"]])
def test_command_refuses_bad_input_and_changes_nothing(args):
    order = _order(email="old@example.org", when=at(2019, 3, 1))
    with pytest.raises(CommandError):
        call_command("privacy_purge", *args, stdout=StringIO())
    assert PurgeRun.objects.count() == 0
    assert _buyer(order) == ("old@example.org", "Ada Lovelace", None)


def test_nightly_task_warns_accounts_about_to_be_anonymised(django_capture_on_commit_callbacks):
    # given an account whose seven years of inactivity end in ten days
    from accounts.models import User
    from museum.models import OutboxEmail

    user = UserFactory(email="soon@example.org")
    last_seen = timezone.now() - dt.timedelta(days=7 * 365 + 2 - 10)
    User.objects.filter(pk=user.pk).update(last_login=last_seen, date_joined=last_seen)
    # when the nightly task runs
    with django_capture_on_commit_callbacks(execute=False):
        nightly_purge.delay().get()
    # then the account is still there and its holder is warned
    user.refresh_from_db()
    assert user.email == "soon@example.org"
    assert list(OutboxEmail.objects.values_list("to", flat=True)) == ["soon@example.org"]
