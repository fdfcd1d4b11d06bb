"""The DPO's console in the admin: the queue, the trail, and the actions; nobody else gets in."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from museum.models import OutboxEmail
from privacy.models import ErasureRecord, SubjectRequest
from privacy.requests import request_submit, request_verify, verification_token
from tests.staff import staff_user
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ADA = "ada@example.org"
OTHER_GROUPS = ["Front desk", "Manager", "Booking service", "Guard office", "Communication"]


def _opened(kind: str, email: str = ADA) -> SubjectRequest:
    request = request_submit(kind=kind, email=email, language="en")
    return request_verify(token=verification_token(request))


def _guest_order(email: str = ADA) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Ada",
    )


@pytest.fixture
def dpo_client():
    client = Client()
    user = staff_user("dpo@museum.example", "DPO")
    client.force_login(user)
    client.user = user
    return client


def test_the_queue_is_ordered_by_deadline_and_flags_urgent_ones(dpo_client):
    today = timezone.localdate()
    later = _opened("access", "later@example.org")
    soon = _opened("erasure", "soon@example.org")
    SubjectRequest.objects.filter(pk=later.pk).update(due_on=today + dt.timedelta(days=20))
    SubjectRequest.objects.filter(pk=soon.pk).update(
        due_on=today + dt.timedelta(days=30), extended_to=today + dt.timedelta(days=2)
    )
    response = dpo_client.get(reverse("admin:privacy_subjectrequest_changelist"))
    assert response.status_code == 200
    listed = [obj.pk for obj in response.context["cl"].result_list]
    assert listed == [soon.pk, later.pk]
    html = response.content.decode()
    assert html.count('class="overdue"') == 1
    assert f"{today + dt.timedelta(days=2):%Y-%m-%d}</strong>" in html


@pytest.mark.parametrize("group", OTHER_GROUPS)
def test_other_groups_are_refused_the_console(group):
    request = _opened("access")
    client = Client()
    client.force_login(staff_user("someone@museum.example", group))
    urls = [
        reverse("admin:privacy_subjectrequest_changelist"),
        reverse("admin:privacy_subjectrequest_change", args=[request.pk]),
        reverse("admin:privacy_subjectrequest_erasure", args=[request.pk]),
    ]
    assert [client.get(url).status_code for url in urls] == [403, 403, 403]
    act = reverse("admin:privacy_subjectrequest_act", args=[request.pk, "send_copy"])
    assert client.post(act).status_code == 403
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.OPEN
    assert not OutboxEmail.objects.filter(dedupe_key__startswith="privacy.request.closed").exists()


def test_the_dpo_assigns_notes_and_sees_the_trail(dpo_client):
    request = _opened("rectification")
    act = "admin:privacy_subjectrequest_act"
    dpo_client.post(reverse(act, args=[request.pk, "assign"]), {"assignee": dpo_client.user.pk})
    dpo_client.post(reverse(act, args=[request.pk, "note"]), {"note": "Called the desk."})
    response = dpo_client.get(reverse("admin:privacy_subjectrequest_change", args=[request.pk]))
    request.refresh_from_db()
    assert request.assignee == dpo_client.user
    assert request.status == SubjectRequest.Status.IN_PROGRESS
    assert list(request.events.values_list("action", "actor")) == [
        ("received", None),
        ("verified", None),
        ("assigned", dpo_client.user.pk),
        ("note", dpo_client.user.pk),
    ]
    assert "Called the desk." in response.content.decode()


def test_an_extension_without_a_reason_is_refused_with_a_message(dpo_client):
    request = _opened("access")
    url = reverse("admin:privacy_subjectrequest_act", args=[request.pk, "extend"])
    until = request.due_on + dt.timedelta(days=10)
    response = dpo_client.post(url, {"until": until.isoformat(), "reason": ""}, follow=True)
    assert "reason" in response.content.decode()
    request.refresh_from_db()
    assert request.extended_to is None
    dpo_client.post(url, {"until": until.isoformat(), "reason": "Archives"})
    request.refresh_from_db()
    assert request.extended_to == until


def test_the_dpo_sends_the_copy_from_the_console(dpo_client):
    _guest_order()
    request = _opened("access")
    url = reverse("admin:privacy_subjectrequest_act", args=[request.pk, "send_copy"])
    response = dpo_client.post(url)
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
    mail = OutboxEmail.objects.get(dedupe_key=f"privacy.request.closed:{request.public_id}")
    assert "/privacy/download/" in mail.body_text
    assert request.events.last().actor == dpo_client.user


def test_the_dpo_previews_then_erases(dpo_client):
    order = _guest_order()
    request = _opened("erasure")
    url = reverse("admin:privacy_subjectrequest_erasure", args=[request.pk])
    preview = dpo_client.get(url)
    assert preview.status_code == 200
    html = preview.content.decode()
    assert 'data-key="ticketing.order"' in html
    order.refresh_from_db()
    assert order.email == ADA  # a preview changes nothing
    response = dpo_client.post(url)
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.email == ""
    assert ErasureRecord.objects.get().request_public_id == request.public_id
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
