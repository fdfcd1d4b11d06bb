"""The DPO lifts a restriction or an objection from the admin; the person is told by e-mail."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import translation

from museum.emails import MARKETING, email_enqueue
from museum.models import AuditEvent, OutboxEmail
from privacy.models import ProcessingRestriction, SubjectRequest
from privacy.requests import restriction_lift
from privacy.selectors import is_restricted
from tests.staff import staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:privacy_processingrestriction_changelist"


def _objection(email: str = "ana@example.org", language: str = "fr") -> ProcessingRestriction:
    request = SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.OBJECTION,
        email=email,
        language=language,
        status=SubjectRequest.Status.DONE,
    )
    return ProcessingRestriction.objects.create(
        email=email, kind=ProcessingRestriction.Kind.MARKETING_OBJECTION, request=request
    )


def _client(*groups: str) -> Client:
    client = Client()
    client.force_login(staff_user(f"{'-'.join(groups).lower()}@museum.example", *groups))
    return client


def _marketing(to: str) -> OutboxEmail | None:
    return email_enqueue(
        dedupe_key=f"test:news:{to}",
        to=to,
        template="ticketing/late_payment_refund",
        context={"order_code": "X", "name": "Ana", "order_url": "http://testserver/"},
        language="en",
        purpose=MARKETING,
    )


def test_the_dpo_lifts_an_objection_and_the_person_is_told_in_their_language(
    django_capture_on_commit_callbacks,
):
    # given a person who objected to marketing, in French
    objection = _objection()
    assert is_restricted(email="ana@example.org", purpose="marketing") is True
    client = _client("DPO")
    # when the DPO lifts it from the list of restrictions
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(CHANGELIST),
            {"action": "lift", "_selected_action": [objection.pk]},
            follow=True,
        )
    # then it is lifted, recorded without the address, and the person told in French
    assert response.status_code == 200
    objection.refresh_from_db()
    assert objection.lifted_at is not None
    event = AuditEvent.objects.get(action="privacy.restriction_lifted")
    assert event.subject_id == str(objection.pk) and "ana@example.org" not in str(event.data)
    mail = OutboxEmail.objects.get(to="ana@example.org")
    assert mail.language == "fr"
    with translation.override("fr"):
        assert mail.subject == translation.gettext("Your objection to marketing has ended")
    assert any("lifted" in str(m) for m in get_messages(response.wsgi_request))
    # and marketing mail may reach her again
    assert is_restricted(email="ana@example.org", purpose="marketing") is False
    assert _marketing("ana@example.org") is not None


def test_lifting_twice_changes_nothing_the_second_time(django_capture_on_commit_callbacks):
    objection = _objection()
    with django_capture_on_commit_callbacks(execute=True):
        first = restriction_lift(restriction=objection, actor=None)
        second = restriction_lift(restriction=objection, actor=None)

    assert (first, second) == (True, False)
    assert OutboxEmail.objects.filter(to="ana@example.org").count() == 1
    assert AuditEvent.objects.filter(action="privacy.restriction_lifted").count() == 1


def test_staff_without_the_right_cannot_lift(django_capture_on_commit_callbacks):
    # given a restriction and a manager, who may not lift it
    objection = _objection()
    client = _client("Manager")
    # when the manager posts the action anyway
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse(CHANGELIST), {"action": "lift", "_selected_action": [objection.pk]}
        )
    # then nothing changes and nobody is e-mailed
    assert response.status_code in (200, 302, 403)
    objection.refresh_from_db()
    assert objection.lifted_at is None
    assert not OutboxEmail.objects.exists()
