"""The consent ledger (marketing, cookies), the account's marketing consent and the banner."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from privacy.consent import (
    COOKIE_NAME,
    Channel,
    ConsentError,
    Purpose,
    active_trackers_forget,
    consent_give,
    consent_is_given,
    consent_withdraw,
)
from privacy.models import ConsentRecord, TrackerSetting
from tests.accounts.factories import UserFactory
from tests.staff import staff_user

pytestmark = pytest.mark.django_db

COMMUNICATION = reverse("my_account:communication")
MARKETING_URL = reverse("privacy:marketing_consent")
COOKIES = reverse("privacy:cookies")
HOME = reverse("ticketing:home")
TRACKER_URL = "https://stats.example.net/t.js"


def _tracker(**kwargs) -> TrackerSetting:
    values = {
        "name": "Example Stats",
        "script_url": TRACKER_URL,
        "purpose": TrackerSetting.Purpose.ANALYTICS,
        "is_active": True,
    }
    tracker = TrackerSetting.objects.create(**values | kwargs)
    active_trackers_forget()  # as the tracker admin does when a manager saves one
    return tracker


# --- ledger -----------------------------------------------------------------------------


def test_giving_then_withdrawing_appends_two_rows_with_wording_and_channel():
    user = UserFactory(email="ada@example.org")
    # when the holder gives marketing consent at the desk, then withdraws it in French
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)):
        first = consent_give(
            purpose=Purpose.MARKETING, channel=Channel.DESK, language="en", user=user
        )
    with time_machine.travel(dt.datetime(2026, 4, 1, 9, tzinfo=dt.UTC)):
        consent_withdraw(
            purpose=Purpose.MARKETING, channel=Channel.ACCOUNT, language="fr", user=user
        )
    # then two rows tell the story; the first is unchanged
    rows = list(ConsentRecord.objects.order_by("recorded_at"))
    assert [(r.given, r.channel, r.email, r.user_id, r.language) for r in rows] == [
        (True, "desk", "ada@example.org", user.pk, "en"),
        (False, "account", "ada@example.org", user.pk, "fr"),
    ]
    assert rows[0].pk == first.pk
    assert rows[0].wording.startswith("Yes, send me offers and invitations")
    assert rows[0].wording_version == "2026-11-1"
    assert rows[0].recorded_at == dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
    assert rows[1].wording != rows[0].wording  # the withdrawal's own wording, in French
    assert consent_is_given(purpose=Purpose.MARKETING, user=user) is False


def test_a_consent_without_a_person_or_browser_is_refused_and_nothing_is_written():
    with pytest.raises(ConsentError):
        consent_give(purpose=Purpose.MARKETING, channel=Channel.WEB_FORM, language="en")
    with pytest.raises(ConsentError):
        consent_give(
            purpose=Purpose.COOKIES_ANALYTICS,
            channel=Channel.COOKIE_BANNER,
            language="en",
            consent_id="short",
        )
    assert ConsentRecord.objects.count() == 0


def test_a_web_form_consent_by_email_counts_for_that_address_only():
    consent_give(
        purpose=Purpose.MARKETING, channel=Channel.WEB_FORM, language="en", email=" Bob@Example.org"
    )
    assert consent_is_given(purpose=Purpose.MARKETING, email="bob@example.org") is True
    assert consent_is_given(purpose=Purpose.MARKETING, email="eve@example.org") is False
    assert consent_is_given(purpose=Purpose.COOKIES_MARKETING, email="bob@example.org") is False


# --- account page -----------------------------------------------------------------------


def test_account_holder_gives_and_withdraws_marketing_consent_with_one_click_each(client):
    user = UserFactory(email="ada@example.org")
    client.force_login(user)
    # given no choice yet: the page offers to give it
    page = client.get(COMMUNICATION).content.decode()
    assert 'name="marketing" value="give"' in page
    assert "You do not receive offers and invitations" in page
    # when the holder clicks to give it
    response = client.post(MARKETING_URL, {"marketing": "give"})
    # then it is recorded from the account page and the page shows it with a withdraw button
    assert response.status_code == 302
    assert response["Location"] == COMMUNICATION
    page = client.get(COMMUNICATION).content.decode()
    assert 'name="marketing" value="withdraw"' in page
    assert "You receive offers and invitations" in page
    assert 'id="marketing-history"' in page
    # when the holder withdraws it with one click
    client.post(MARKETING_URL, {"marketing": "withdraw"})
    # then the withdrawal is a second row, and the page offers to give it again
    rows = list(ConsentRecord.objects.filter(user=user).order_by("recorded_at", "pk"))
    assert [(r.given, r.channel, r.purpose) for r in rows] == [
        (True, "account", "marketing"),
        (False, "account", "marketing"),
    ]
    page = client.get(COMMUNICATION).content.decode()
    assert 'name="marketing" value="give"' in page
    assert page.count("consent withdrawn") == 1


def test_repeating_the_same_choice_writes_nothing(client):
    user = UserFactory(email="ada@example.org")
    client.force_login(user)
    client.post(MARKETING_URL, {"marketing": "give"})
    client.post(MARKETING_URL, {"marketing": "give"})
    assert ConsentRecord.objects.filter(user=user).count() == 1


def test_marketing_consent_needs_a_signed_in_holder_and_a_post(client):
    user = UserFactory(email="ada@example.org")
    response = client.post(MARKETING_URL, {"marketing": "give"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    client.force_login(user)
    assert client.get(MARKETING_URL).status_code == 405
    assert ConsentRecord.objects.count() == 0


# --- cookies ----------------------------------------------------------------------------


def test_without_a_tracker_there_is_no_banner_no_script_and_no_consent_cookie(client):
    # given an inactive tracker only
    _tracker(is_active=False)
    response = client.get(HOME)
    html = response.content.decode()
    assert response.status_code == 200
    assert "cookie-banner" not in html
    assert TRACKER_URL not in html
    assert "stats.example.net" not in response["Content-Security-Policy"]
    assert COOKIE_NAME not in response.cookies
    # and the footer still links to the cookie settings, which list only essential cookies
    assert f'href="{COOKIES}"' in html
    settings_page = client.get(COOKIES).content.decode()
    assert "This website uses no optional cookies" in settings_page
    # and a choice posted anyway records nothing
    client.post(COOKIES, {"choice": "accept"})
    assert ConsentRecord.objects.count() == 0


def test_with_a_tracker_the_banner_asks_and_no_script_runs_before_an_answer(client):
    _tracker()
    response = client.get(HOME)
    html = response.content.decode()
    assert 'class="cookie-banner"' in html
    assert 'name="choice" value="accept" class="primary"' in html
    assert 'name="choice" value="refuse" class="primary"' in html
    assert "Example Stats" in html
    assert TRACKER_URL not in html
    assert "stats.example.net" not in response["Content-Security-Policy"]
    assert ConsentRecord.objects.count() == 0


def test_accept_records_the_consent_and_then_the_script_is_rendered_and_allowed(client):
    _tracker()
    # when the visitor accepts in the banner on the home page
    response = client.post(COOKIES, {"choice": "accept", "next": HOME})
    # then one record is tied to a new random consent id, kept in an essential cookie
    assert response.status_code == 302
    assert response["Location"] == HOME
    consent_id = response.cookies[COOKIE_NAME].value
    assert len(consent_id) >= 22
    assert response.cookies[COOKIE_NAME]["httponly"] is True
    record = ConsentRecord.objects.get()
    assert (record.consent_id, record.purpose, record.given, record.channel) == (
        consent_id,
        "cookies_analytics",
        True,
        "cookie_banner",
    )
    assert (record.email, record.user_id) == ("", None)
    assert "Example Stats" in record.wording
    # and the next page renders the script, allows it in the CSP, and shows no banner
    page = client.get(HOME)
    html = page.content.decode()
    assert f'<script src="{TRACKER_URL}"' in html
    assert "https://stats.example.net" in page["Content-Security-Policy"]
    assert 'class="cookie-banner"' not in html


def test_refuse_is_recorded_and_no_script_is_rendered(client):
    _tracker()
    response = client.post(COOKIES, {"choice": "refuse", "next": HOME})
    consent_id = response.cookies[COOKIE_NAME].value
    record = ConsentRecord.objects.get()
    assert (record.consent_id, record.given, record.channel) == (consent_id, False, "cookie_banner")
    page = client.get(HOME)
    html = page.content.decode()
    assert TRACKER_URL not in html
    assert 'class="cookie-banner"' not in html
    assert "stats.example.net" not in page["Content-Security-Policy"]


def test_changing_the_choice_later_appends_a_withdrawal_and_stops_the_script(client):
    _tracker()
    client.post(COOKIES, {"choice": "accept"})
    consent_id = client.cookies[COOKIE_NAME].value
    # when the visitor later refuses on the cookie settings page
    page = client.get(COOKIES).content.decode()
    assert "accepted" in page
    client.post(COOKIES, {"choice": "refuse"})
    # then both answers are in the ledger, for the same browser, and the script is gone
    rows = ConsentRecord.objects.filter(consent_id=consent_id).order_by("recorded_at", "pk")
    assert [r.given for r in rows] == [True, False]
    assert TRACKER_URL not in client.get(HOME).content.decode()


def test_a_consent_for_analytics_does_not_run_a_marketing_tracker(client):
    _tracker()
    client.post(COOKIES, {"choice": "accept"})
    # when a manager then adds a marketing tracker
    _tracker(name="Ads", script_url="https://ads.example.com/a.js", purpose="marketing")
    html = client.get(HOME).content.decode()
    # then the analytics script runs, the marketing one does not, and the banner asks again
    assert TRACKER_URL in html
    assert "https://ads.example.com/a.js" not in html
    assert 'class="cookie-banner"' in html


def test_a_forged_consent_cookie_runs_no_script(client):
    _tracker()
    client.cookies[COOKIE_NAME] = "A" * 32
    html = client.get(HOME).content.decode()
    assert TRACKER_URL not in html
    assert 'class="cookie-banner"' in html


def test_an_unknown_choice_or_an_outside_next_records_nothing_or_stays_here():
    _tracker()
    client = Client()
    client.post(COOKIES, {"choice": "maybe"})
    assert ConsentRecord.objects.count() == 0
    response = client.post(COOKIES, {"choice": "refuse", "next": "https://evil.example/"})
    assert response["Location"] == COOKIES


def test_a_manager_configures_a_tracker_only_over_https():
    from tests.staff import staff_user

    manager = Client()
    manager.force_login(staff_user("manager@museum.example", "Manager"))
    add = reverse("admin:privacy_trackersetting_add")
    values = {"name": "Stats", "purpose": "analytics", "is_active": "on"}
    # when the script is offered over plain http, it is refused and nothing is stored
    refused = manager.post(add, values | {"script_url": "http://stats.example.net/t.js"})
    assert refused.status_code == 200
    assert TrackerSetting.objects.count() == 0
    # when it is offered over https, it is stored and the banner appears
    saved = manager.post(add, values | {"script_url": TRACKER_URL})
    assert saved.status_code == 302
    assert TrackerSetting.objects.get().script_url == TRACKER_URL
    assert 'class="cookie-banner"' in Client().get(HOME).content.decode()


def test_a_tracker_saved_in_the_admin_shows_at_once_and_pages_do_not_query_trackers(client):
    # given a page already seen (the tracker list is cached) and a manager
    manager = staff_user("manager@example.org", "Manager")
    client.get(HOME)
    with CaptureQueriesContext(connection) as queries:
        client.get(HOME)
    assert not [q for q in queries.captured_queries if "privacy_trackersetting" in q["sql"]]
    # when the manager adds a tracker in the admin
    client.force_login(manager)
    client.post(
        reverse("admin:privacy_trackersetting_add"),
        {"name": "Stats", "script_url": TRACKER_URL, "purpose": "analytics", "is_active": "on"},
    )
    client.logout()
    # then the next page already asks for consent
    assert 'class="cookie-banner"' in client.get(HOME).content.decode()
