"""The access log: staff views of personal data in the admin are recorded; the DPO searches them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from museum.models import AuditEvent
from privacy.access_log import LISTED, VIEWED, person_key
from privacy.requests import request_submit
from tests.staff import staff_user
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ADA = "ada.lovelace@example.org"
OTHER_GROUPS = ["Front desk", "Manager", "Booking service", "Guard office", "Communication"]


def _order(email: str = ADA) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Ada Lovelace",
    )


def _client(email: str, group: str) -> Client:
    client = Client()
    user = staff_user(email, group)
    client.force_login(user)
    client.user = user
    return client


def _access_events():
    return AuditEvent.objects.filter(action__in=[VIEWED, LISTED])


def test_viewing_an_order_writes_one_event_naming_the_viewer_and_the_order_not_the_email():
    order = _order()
    desk = _client("desk@museum.example", "Front desk")

    response = desk.get(reverse("admin:ticketing_order_change", args=[order.pk]))

    assert response.status_code == 200
    event = _access_events().get()
    assert event.action == VIEWED
    assert event.actor == desk.user
    assert event.actor_label == "desk@museum.example"
    assert (event.subject_type, event.subject_id) == ("ticketing.order", str(order.pk))
    assert event.data == {"model": "ticketing.order", "person": person_key(ADA), "view": "change"}
    stored = f"{event.data} {event.actor_label} {event.subject_id}".lower()
    assert "ada.lovelace" not in stored
    assert "example.org" not in stored


def test_the_person_key_ignores_case_and_depends_on_the_secret_key(settings):
    key = person_key(ADA)

    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"

    assert person_key(" Ada.Lovelace@EXAMPLE.org ") == person_key(ADA)
    assert person_key(ADA) != key
    assert len(key) == 64


def test_a_post_to_the_change_page_and_a_refused_view_write_no_access_event():
    order = _order()
    guard = _client("guard@museum.example", "Guard office")
    desk = _client("desk@museum.example", "Front desk")

    refused = guard.get(reverse("admin:ticketing_order_change", args=[order.pk]))
    posted = desk.post(reverse("admin:ticketing_order_change", args=[order.pk]), {})

    assert refused.status_code == 403
    assert posted.status_code == 200  # the read-only form again: not a GET, not logged
    assert not _access_events().exists()


def test_the_order_list_writes_one_listed_event_with_the_rows_shown():
    _order(ADA)
    _order("grace@example.org")
    desk = _client("desk@museum.example", "Front desk")

    response = desk.get(reverse("admin:ticketing_order_changelist"))

    assert response.status_code == 200
    assert "grace@example.org" in response.content.decode()
    event = _access_events().get()
    assert event.action == LISTED
    assert event.actor == desk.user
    assert (event.subject_type, event.subject_id) == ("ticketing.order", "")
    assert event.data == {
        "model": "ticketing.order",
        "rows": 2,
        "persons": sorted([person_key(ADA), person_key("grace@example.org")]),
    }


def test_the_history_page_and_the_tickets_pdf_are_logged_as_views():
    order = _order()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID)
    desk = _client("desk@museum.example", "Front desk")

    history = desk.get(reverse("admin:ticketing_order_history", args=[order.pk]))
    pdf = desk.get(reverse("admin:ticketing_order_pdf", args=[order.pk]))

    assert history.status_code == 200
    assert pdf.status_code == 200
    views = sorted(_access_events().values_list("action", "subject_id", "data__view"))
    assert views == [(VIEWED, str(order.pk), "history"), (VIEWED, str(order.pk), "pdf")]


def test_a_user_account_and_a_subject_request_are_logged_with_their_own_models():
    ada = staff_user("ada.staff@museum.example", "Front desk")
    dpo = _client("dpo@museum.example", "DPO")

    subject_request = request_submit(kind="access", email=ADA, language="en")

    account = dpo.get(reverse("admin:accounts_user_change", args=[ada.pk]))
    queued = dpo.get(reverse("admin:privacy_subjectrequest_change", args=[subject_request.pk]))

    assert (account.status_code, queued.status_code) == (200, 200)
    assert sorted(_access_events().values_list("subject_type", "subject_id", "data")) == [
        (
            "accounts.user",
            str(ada.pk),
            {
                "model": "accounts.user",
                "person": person_key("ada.staff@museum.example"),
                "view": "change",
            },
        ),
        (
            "privacy.subjectrequest",
            str(subject_request.pk),
            {"model": "privacy.subjectrequest", "person": person_key(ADA), "view": "change"},
        ),
    ]


def test_the_dpo_finds_the_view_by_searching_the_buyers_email():
    order = _order()
    other = _order("grace@example.org")
    desk = _client("desk@museum.example", "Front desk")
    desk.get(reverse("admin:ticketing_order_change", args=[order.pk]))
    desk.get(reverse("admin:ticketing_order_change", args=[other.pk]))
    dpo = _client("dpo@museum.example", "DPO")
    events_before = _access_events().count()

    response = dpo.get(reverse("privacy_access_log"), {"email": "ADA.lovelace@example.org"})

    assert response.status_code == 200
    page = response.context["page"]
    assert [(e.actor_label, e.subject_id) for e in page.object_list] == [
        ("desk@museum.example", str(order.pk))
    ]
    assert "desk@museum.example" in response.content.decode()
    assert _access_events().count() == events_before


def test_the_search_narrows_by_staff_member_and_date_range():
    order = _order()
    desk = _client("desk@museum.example", "Front desk")
    manager = _client("manager@museum.example", "Manager")
    desk.get(reverse("admin:ticketing_order_change", args=[order.pk]))
    manager.get(reverse("admin:ticketing_order_change", args=[order.pk]))
    dpo = _client("dpo@museum.example", "DPO")
    today = timezone.localdate().isoformat()

    by_manager = dpo.get(
        reverse("privacy_access_log"),
        {"email": ADA, "actor": manager.user.pk, "since": today, "until": today},
    )
    yesterday = dpo.get(reverse("privacy_access_log"), {"email": ADA, "until": "2000-01-01"})

    assert [e.actor_label for e in by_manager.context["page"].object_list] == [
        "manager@museum.example"
    ]
    assert yesterday.context["page"].paginator.count == 0


def test_the_search_page_takes_a_fixed_number_of_queries():
    desk = _client("desk@museum.example", "Front desk")
    dpo = _client("dpo@museum.example", "DPO")
    order = _order()
    desk.get(reverse("admin:ticketing_order_change", args=[order.pk]))
    dpo.get(reverse("privacy_access_log"), {"email": ADA})  # warms the session and caches
    with CaptureQueriesContext(connection) as one:
        dpo.get(reverse("privacy_access_log"), {"email": ADA})
    for _ in range(5):
        desk.get(reverse("admin:ticketing_order_change", args=[order.pk]))

    with CaptureQueriesContext(connection) as six:
        response = dpo.get(reverse("privacy_access_log"), {"email": ADA})

    assert response.context["page"].paginator.count == 6
    assert len(six) == len(one)


@pytest.mark.parametrize("group", OTHER_GROUPS)
def test_other_groups_get_403_on_the_access_log(group):
    client = _client(f"{group.replace(' ', '-').lower()}@museum.example", group)

    response = client.get(reverse("privacy_access_log"), {"email": ADA})

    assert response.status_code == 403


def test_the_admin_index_links_the_access_log_for_the_dpo_only():
    dpo = _client("dpo@museum.example", "DPO")
    desk = _client("desk@museum.example", "Front desk")

    assert reverse("privacy_access_log") in dpo.get(reverse("admin:index")).content.decode()
    assert reverse("privacy_access_log") not in desk.get(reverse("admin:index")).content.decode()
