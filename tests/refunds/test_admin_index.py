"""The admin home's refund desk: each link shown to the staff who may use it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.staff import staff_user

pytestmark = pytest.mark.django_db


def _home(email: str, group: str) -> str:
    client = Client()
    client.force_login(staff_user(email, group))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return response.content.decode()


def test_a_manager_sees_every_refund_link():
    page = _home("manager@museum.example", "Manager")
    assert reverse("admin:refunds_campaign_add") in page
    assert reverse("admin:refunds_refund_changelist") + "?status__exact=requested" in page
    assert reverse("admin:refunds_transferbatch_export") in page
    assert reverse("admin:refunds_refund_report") in page


def test_the_front_desk_sees_the_requests_but_cannot_cancel_visits_or_export():
    page = _home("desk@museum.example", "Front desk")
    assert reverse("admin:refunds_refund_changelist") + "?status__exact=requested" in page
    assert reverse("admin:refunds_campaign_add") not in page
    assert reverse("admin:refunds_transferbatch_export") not in page
    assert reverse("admin:refunds_refund_report") not in page
