"""Bad input on the DPO's lifting action and the order search by buyer: no 500, no change."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from museum.models import OutboxEmail
from privacy.models import ProcessingRestriction
from tests.staff import staff_user
from ticketing.models import Order

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:privacy_processingrestriction_changelist"


@pytest.fixture
def dpo() -> Client:
    client = Client()
    client.force_login(staff_user("dpo@museum.example", "DPO"))
    return client


@pytest.mark.parametrize(
    "selected", [[], ["999999"], ["not-a-number"], ["1\x00"], ["-1"], ["9" * 40]]
)
def test_lifting_nothing_or_garbage_changes_nothing(
    dpo, selected, django_capture_on_commit_callbacks
):
    objection = ProcessingRestriction.objects.create(
        email="ana@example.org", kind=ProcessingRestriction.Kind.MARKETING_OBJECTION
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = dpo.post(reverse(CHANGELIST), {"action": "lift", "_selected_action": selected})

    # keys that are not numbers are refused as a bad request; unknown ones select nothing
    tampered = any(not key.lstrip("-").isdigit() for key in selected)
    assert response.status_code == 400 if tampered else response.status_code in (200, 302)
    objection.refresh_from_db()
    assert objection.lifted_at is None
    assert not OutboxEmail.objects.exists()


@pytest.mark.parametrize("query", ["\x00", "%", "a" * 5000, "' OR 1=1 --", "ß@ÉXAMPLE.org"])
def test_the_order_search_by_buyer_takes_any_text(query):
    # (a NUL alone is no search term: the whole list is shown, as for an empty search)
    Order.objects.create(
        status=Order.Status.PAID,
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="ada@example.org",
        name="Ada",
    )
    client = Client()
    client.force_login(staff_user("desk@museum.example", "Front desk"))

    response = client.get(reverse("admin:ticketing_order_changelist"), {"q": query})

    assert response.status_code in (200, 400)
    if query != "\x00":
        assert b"ada@example.org" not in response.content
