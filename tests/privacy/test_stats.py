"""First-party visit statistics: normalised paths, counts per day, no person, one write."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from privacy.models import PageViewDay
from privacy.stats import page_view_count, page_views_table
from tests.staff import staff_user
from tests.ticketing.factories import ExhibitionFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

HOME = reverse("ticketing:home")
STATISTICS = reverse("admin:privacy_visit_statistics")
MIDDLEWARE = "privacy.middleware.PageViewMiddleware"


def _order() -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="visitor@example.org",
        name="Visitor",
    )


def _counts() -> dict[tuple[str, dt.date], int]:
    return {(r.path, r.day): r.count for r in PageViewDay.objects.all()}


def test_the_order_token_and_the_query_string_are_not_stored(client):
    order = _order()
    url = reverse("ticketing:order_detail", args=[order.access_token])
    # when the buyer opens their order twice, once with a query string
    with time_machine.travel(dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)):
        assert client.get(url).status_code == 200
        assert client.get(f"{url}?lang=fr&email=visitor@example.org").status_code == 200
    # then one row counts both, under the pattern; no token or address is anywhere
    assert _counts() == {("/order/*/", dt.date(2026, 5, 4)): 2}
    stored = " ".join(PageViewDay.objects.values_list("path", flat=True))
    assert order.access_token not in stored
    assert "visitor" not in stored


def test_an_exhibitions_public_slug_is_kept(client):
    exhibition = ExhibitionFactory(slug="old-masters")
    with time_machine.travel(dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)):
        client.get(reverse("ticketing:calendar", args=[exhibition.slug]))
    assert [p for p, _day in _counts()] == ["/visit/old-masters/"]


def test_views_are_counted_per_day(client):
    with time_machine.travel(dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)):
        client.get(HOME)
        client.get(HOME)
    with time_machine.travel(dt.datetime(2026, 5, 5, 10, tzinfo=dt.UTC)):
        client.get(HOME)
    assert _counts() == {("/", dt.date(2026, 5, 4)): 2, ("/", dt.date(2026, 5, 5)): 1}


def test_nothing_about_the_visitor_is_stored(client):
    user = staff_user("someone@museum.example")
    client.force_login(user)
    client.get(HOME, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox/140.0")
    # the table has only the path, the day and the count
    columns = {f.column for f in PageViewDay._meta.concrete_fields}
    assert columns == {"id", "path", "day", "count"}
    row = PageViewDay.objects.values("path", "count").get()
    assert row == {"path": "/", "count": 1}


def test_admin_static_api_errors_posts_and_bots_are_not_counted(client):
    client.get("/admin/")
    client.get("/api/v1/slots/")
    client.get("/no-such-page/")
    client.post(HOME)
    client.get(HOME, HTTP_USER_AGENT="Googlebot/2.1")
    assert PageViewDay.objects.count() == 0


def test_the_middleware_adds_exactly_one_write_to_a_page():
    without = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE]
    with override_settings(MIDDLEWARE=without):
        plain_client = Client()  # a client loads the middleware once, when first used
        plain_client.get(HOME)
        with CaptureQueriesContext(connection) as plain:
            assert plain_client.get(HOME).status_code == 200
    counted_client = Client()
    counted_client.get(HOME)
    with CaptureQueriesContext(connection) as counted:
        assert counted_client.get(HOME).status_code == 200
    assert len(counted) == len(plain) + 1
    extra = counted.captured_queries[-1]["sql"]
    assert extra.startswith("INSERT INTO privacy_pageviewday (path, day, count)")
    assert "ON CONFLICT" in extra


def test_the_table_has_pages_by_days_with_totals_in_one_query(django_assert_num_queries):
    today = dt.date(2026, 5, 30)
    page_view_count(path="/", day=today)
    page_view_count(path="/", day=today)
    page_view_count(path="/order/*/", day=today - dt.timedelta(days=29))
    page_view_count(path="/old/", day=today - dt.timedelta(days=30))  # outside the window
    with django_assert_num_queries(1):
        table = page_views_table(days=30, today=today)
    assert table.days[0] == dt.date(2026, 5, 1)
    assert table.days[-1] == today
    assert [(path, total) for path, _counts, total in table.rows] == [("/", 2), ("/order/*/", 1)]
    assert table.rows[1][1][0] == 1
    assert table.day_totals[-1] == 2


def test_managers_see_the_statistics_and_the_front_desk_is_refused():
    page_view_count(path="/order/*/")
    manager = Client()
    manager.force_login(staff_user("manager@museum.example", "Manager"))
    desk = Client()
    desk.force_login(staff_user("desk@museum.example", "Front desk"))
    response = manager.get(STATISTICS)
    assert response.status_code == 200
    assert '<th scope="row">/order/*/</th>' in response.content.decode()
    assert desk.get(STATISTICS).status_code == 403


def test_the_statistics_page_runs_the_same_queries_for_1_or_50_pages():
    client = Client()
    client.force_login(staff_user("manager@museum.example", "Manager"))
    page_view_count(path="/")
    client.get(STATISTICS)
    with CaptureQueriesContext(connection) as one:
        client.get(STATISTICS)
    for i in range(50):
        page_view_count(path=f"/page-{i}/")
    with CaptureQueriesContext(connection) as many:
        response = client.get(STATISTICS)
    assert response.content.decode().count('<th scope="row">/page-') == 50
    assert len(many) == len(one)


def test_buffered_views_cost_no_database_write_and_are_flushed_once(client, settings):
    # given production-like buffering of page views in Redis
    from privacy.stats import page_views_flush
    from privacy.tasks import flush_page_views

    settings.PRIVACY_PAGE_VIEWS_BUFFERED = True
    page_views_flush()  # nothing left over from another test
    # when the home page is viewed three times
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            client.get(HOME)
    # then no view wrote to the database, and one flush (run twice) stores them once
    assert not [q for q in queries.captured_queries if "privacy_pageviewday" in q["sql"]]
    assert PageViewDay.objects.count() == 0
    assert flush_page_views() == 1
    assert flush_page_views() == 0
    assert _counts() == {("/", timezone.localdate()): 3}
