"""Retention in the admin: settings, the runs' reports, and "Run now" / "Dry run"."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from privacy.models import PurgeRun, RetentionSetting
from privacy.purge import purge_run
from privacy.registry import registry
from tests.privacy.test_purge import _buyer, _order, at
from tests.staff import staff_user
from ticketing.models import Order

pytestmark = pytest.mark.django_db

RUN_URL = "admin:privacy_purgerun_run"
OPEN_ORDER = str(registry.get("ticketing.order").holds[0].reason)


def _client(email: str, *groups: str) -> tuple[Client, object]:
    user = staff_user(email, *groups)
    client = Client()
    client.force_login(user)
    return client, user


def test_dpo_reads_a_runs_report_as_a_table():
    # given a run that anonymised one order and held another
    _order(email="a@example.org", when=at(2019, 3, 1))
    _order(email="b@example.org", when=at(2019, 3, 1), status=Order.Status.PENDING)
    run = purge_run(as_of=at(2026, 6, 1), only_rule="ticketing.order:buyer")
    client, _user = _client("dpo@museum.example", "DPO")
    # when the DPO opens the list and the run
    listing = client.get(reverse("admin:privacy_purgerun_changelist"))
    page = client.get(reverse("admin:privacy_purgerun_change", args=[run.pk]))
    # then the list shows the totals and the page the report, row by row
    assert listing.status_code == 200
    assert "1 / 0 / 1" in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200
    assert '<table class="purge-report">' in html
    assert "<td>ticketing.order:buyer</td>" in html
    assert OPEN_ORDER in html
    # and the run cannot be changed: a post is refused
    response = client.post(
        reverse("admin:privacy_purgerun_change", args=[run.pk]), {"status": "failed"}
    )
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == PurgeRun.Status.DONE


def test_dpo_runs_a_dry_run_then_the_purge_from_the_admin(django_capture_on_commit_callbacks):
    old = _order(email="old@example.org", when=at(2015, 3, 1))
    client, dpo = _client("dpo@museum.example", "DPO")
    # when the DPO asks for a dry run of the orders' rule
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(RUN_URL), {"only_rule": "ticketing.order:buyer", "dry_run": "1"}
        )
    # then a dry run ran (tasks run eagerly in tests) and nothing changed
    assert response.status_code == 302
    dry = PurgeRun.objects.get()
    assert (dry.dry_run, dry.only_rule, dry.triggered_by) == (True, "ticketing.order:buyer", dpo)
    assert dry.report["ticketing.order:buyer"]["deleted"] == 1
    assert _buyer(old) == ("old@example.org", "Ada Lovelace", None)
    # when the DPO then runs it for real
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse(RUN_URL), {"only_rule": "ticketing.order:buyer", "run": "1"})
    real = PurgeRun.objects.exclude(pk=dry.pk).get()
    assert (real.dry_run, real.triggered_by) == (False, dpo)
    assert real.report == dry.report
    assert _buyer(old) == ("", "", None)


def test_run_now_is_refused_without_the_permission_and_nothing_runs(
    django_capture_on_commit_callbacks,
):
    old = _order(email="old@example.org", when=at(2015, 3, 1))
    client, _user = _client("desk@museum.example", "Front desk")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse(RUN_URL), {"only_rule": "", "run": "1"})
    assert response.status_code == 403
    assert callbacks == []
    assert PurgeRun.objects.count() == 0
    assert _buyer(old) == ("old@example.org", "Ada Lovelace", None)


def test_run_now_with_an_unknown_rule_says_so_and_queues_nothing(
    django_capture_on_commit_callbacks,
):
    client, _user = _client("manager@museum.example", "Manager")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(reverse(RUN_URL), {"only_rule": "no.such.rule", "run": "1"})
    assert response.status_code == 302
    assert callbacks == []
    assert PurgeRun.objects.count() == 0
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Choose a rule from the list."]


def test_run_now_answers_only_to_post():
    client, _user = _client("manager@museum.example", "Manager")
    assert client.get(reverse(RUN_URL)).status_code == 405
    assert PurgeRun.objects.count() == 0


def test_manager_sets_a_sites_retention_and_is_recorded_as_its_author():
    client, manager = _client("manager@museum.example", "Manager")
    order = _order(email="a@example.org", when=at(2022, 5, 1))
    # when the manager sets two years for that site's orders
    response = client.post(
        reverse("admin:privacy_retentionsetting_add"),
        {
            "rule_key": "ticketing.order",
            "site": order.site_id,
            "years": 2,
            "days": 0,
            "is_active": "on",
        },
    )
    # then the setting is saved with its author, and the next purge uses it
    assert response.status_code == 302
    setting = RetentionSetting.objects.get()
    assert (setting.rule_key, setting.site_id, setting.years, setting.updated_by) == (
        "ticketing.order",
        order.site_id,
        2,
        manager,
    )
    run = purge_run(as_of=at(2025, 1, 1, 0, 0), only_rule="ticketing.order:buyer")
    assert run.report["ticketing.order:buyer"]["deleted"] == 1


def test_a_setting_must_name_a_known_rule():
    client, _manager = _client("manager@museum.example", "Manager")
    response = client.post(
        reverse("admin:privacy_retentionsetting_add"),
        {"rule_key": "ticketing.ticket", "years": 2, "days": 0, "is_active": "on"},
    )
    assert response.status_code == 200  # the form again, with the error
    assert RetentionSetting.objects.count() == 0
