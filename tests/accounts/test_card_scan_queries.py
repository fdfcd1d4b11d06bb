"""What one museum card scan at the entrance costs in queries, and that the savings keep it safe.

One POST of a valid card to /check-in/ (sessions in Redis, as in the test settings and in
production; the gate and the site as on the previous scan, so the session is not written)
runs four queries: the signed-in user, their second factor together with their
permissions (museum.staff), the sites of the page's form, and the scan itself (the card's
read and its visit's insert in one statement).
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from accounts.models import CardVisit
from accounts.services.card_scans import CardScanResult, card_scan
from tests.accounts.card_factories import at, desk_card
from tests.staff import staff_user
from tests.ticketing.factories import SiteFactory

pytestmark = pytest.mark.django_db

URL = reverse("ticketing:check_in")
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def usher(client):
    user = staff_user("usher@museum.example", "Guard office")
    client.force_login(user)
    return user


def _started_card(site):
    card = desk_card(name="Aino Aalto")
    card_scan(code=card.secret, site=site, now=at(DAY - dt.timedelta(days=30), 10))
    return card


def test_a_valid_card_scan_runs_at_most_four_queries(client, usher, django_assert_max_num_queries):
    # given a card started a month ago, and an usher who has scanned another card at
    # that site and gate (the page keeps them in the session: written on the first scan)
    site = SiteFactory()
    card = _started_card(site)
    with time_machine.travel(at(DAY, 9), tick=False):
        client.post(URL, {"code": desk_card().secret, "gate": "North", "site": site.pk})
    # when the usher scans the card
    with time_machine.travel(at(DAY, 10), tick=False), django_assert_max_num_queries(4):
        response = client.post(URL, {"code": card.secret, "gate": "North", "site": site.pk})
    # then it is admitted, with exactly one new visit by that usher at that site and gate
    assert response.status_code == 200
    assert response.context["card_outcome"].result == CardScanResult.VALID
    assert "VALID CARD" in response.content.decode()
    visit = CardVisit.objects.get(visited_at=at(DAY, 10))
    assert (visit.card_id, visit.site_id, visit.gate, visit.checked_in_by_id) == (
        card.pk,
        site.pk,
        "North",
        usher.pk,
    )
    assert response.context["card_outcome"].visit.pk == visit.pk


def test_an_expired_card_scan_writes_no_visit_through_the_one_statement(client, usher):
    # given a card started 400 days ago (a 12-month card, so no longer valid)
    site = SiteFactory()
    card = desk_card()
    card_scan(code=card.secret, site=site, now=at(DAY - dt.timedelta(days=400), 10))
    before = CardVisit.objects.count()
    # when it is scanned
    with time_machine.travel(at(DAY, 10), tick=False):
        response = client.post(URL, {"code": card.number, "gate": "", "site": site.pk})
    # then it is EXPIRED and no visit is written
    assert response.context["card_outcome"].result == CardScanResult.EXPIRED
    assert CardVisit.objects.count() == before


def test_a_card_valid_from_tomorrow_is_not_admitted_today():
    # given a card whose validity starts tomorrow (bought ahead, set by hand)
    site = SiteFactory()
    card = _started_card(site)
    card.valid_from = DAY + dt.timedelta(days=1)
    card.save(update_fields=["valid_from"])
    before = CardVisit.objects.count()
    # when it is scanned today
    outcome = card_scan(code=card.secret, site=site, now=at(DAY, 10))
    # then it is not valid (not yet: the same answer as a card past its end), no visit
    assert outcome.result == CardScanResult.EXPIRED
    assert outcome.visit is None
    assert CardVisit.objects.count() == before


def test_a_check_in_permission_removed_counts_from_the_next_request(client, usher):
    # given an usher who scanned once (permissions read with the second factor)
    site = SiteFactory()
    card = _started_card(site)
    with time_machine.travel(at(DAY, 10), tick=False):
        assert client.post(URL, {"code": card.secret, "site": site.pk}).status_code == 200
        # when the usher leaves the guard office
        usher.groups.remove(Group.objects.get(name="Guard office"))
        before = CardVisit.objects.count()
        response = client.post(URL, {"code": card.secret, "site": site.pk})
    # then the next scan is refused and writes nothing
    assert response.status_code == 403
    assert CardVisit.objects.count() == before


def test_a_check_in_permission_given_directly_admits_like_one_from_a_group(client):
    # given a staff member with the check-in permission of their own, in no group
    user = staff_user("porter@museum.example")
    user.user_permissions.add(Permission.objects.get(codename="check_in"))
    client.force_login(user)
    site = SiteFactory()
    card = _started_card(site)
    # when they scan a valid card
    with time_machine.travel(at(DAY, 10), tick=False):
        response = client.post(URL, {"code": card.secret, "site": site.pk})
    # then it is admitted
    assert response.context["card_outcome"].result == CardScanResult.VALID


def test_an_authenticator_removed_sends_the_usher_to_set_one_up_at_the_next_scan(client, usher):
    # given an usher who scanned once
    site = SiteFactory()
    card = _started_card(site)
    with time_machine.travel(at(DAY, 10), tick=False):
        assert client.post(URL, {"code": card.secret, "site": site.pk}).status_code == 200
        # when their authenticator app is removed
        Authenticator.objects.filter(user=usher).delete()
        before = CardVisit.objects.count()
        response = client.post(URL, {"code": card.secret, "site": site.pk})
    # then the next scan goes to the second factor's set-up and writes nothing
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
    assert CardVisit.objects.count() == before
