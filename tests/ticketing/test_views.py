"""The public shop pages: calendar, day, checkout, order page, PDF, resend, languages."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from museum.models import Closure, OutboxEmail
from newsletter.models import NewsletterConsent
from newsletter.services import CHECKOUT_WORDING_VERSION
from tests.ticketing.factories import (
    ExhibitionFactory,
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing.models import Order, Payment, Ticket, TicketType
from ticketing.selectors import DayStatus
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_current_timezone())


def _next_month_day(number: int) -> dt.date:
    first_of_next = (timezone.localdate().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_of_next.replace(day=number)


def _sell(slot, ticket_type, quantity):
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
    )


@pytest.fixture
def shop():
    """An exhibition with one slot tomorrow at 10:00 (10 places) and an adult ticket."""
    exhibition = ExhibitionFactory(slug="nile", name="Treasures of the Nile")
    day = timezone.localdate() + dt.timedelta(days=1)
    slot = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=_at(day, 10))
    adult = TicketTypeFactory(site=exhibition.site, name="Adult", max_per_order=6)
    return exhibition, slot, adult


def _checkout_url(slot) -> str:
    local = timezone.localtime(slot.starts_at)
    return reverse(
        "ticketing:checkout",
        kwargs={
            "slug": slot.exhibition.slug,
            "day": local.date().isoformat(),
            "hhmm": local.strftime("%H%M"),
        },
    )


def _form(adult, quantity=2, **extra):
    return {
        f"qty_{adult.pk}": str(quantity),
        "name": "Marie Curie",
        "email": "marie@example.org",
        **extra,
    }


# --- calendar and day -----------------------------------------------------------------


def test_calendar_shows_closed_sold_out_few_left_and_available_days(client):
    # given four days of next month: one free, one nearly full, one full, one closed
    exhibition = ExhibitionFactory(slug="nile")
    adult = TicketTypeFactory(site=exhibition.site)
    free_day, few_day, full_day, closed_day = (_next_month_day(n) for n in (10, 11, 12, 13))
    TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=_at(free_day, 10))
    _sell(TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=_at(few_day, 10)), adult, 8)
    full = TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=_at(full_day, 10))
    _sell(full, adult, 6)
    _sell(full, adult, 4)
    TimeSlotFactory(exhibition=exhibition, capacity=10, starts_at=_at(closed_day, 10))
    Closure.objects.create(
        site=exhibition.site, starts_on=closed_day, ends_on=closed_day, reason="Inventory"
    )
    # when the calendar of that month is shown
    response = client.get(
        reverse("ticketing:calendar", kwargs={"slug": "nile"}),
        {"month": free_day.strftime("%Y-%m")},
    )
    # then each day has its status and only the bookable ones link to the day page
    assert response.status_code == 200
    days = {d.day: d for d in response.context["days"]}
    assert days[free_day].status == DayStatus.AVAILABLE
    assert days[free_day].free == 10
    assert days[few_day].status == DayStatus.FEW_LEFT
    assert days[few_day].free == 2
    assert days[full_day].status == DayStatus.SOLD_OUT
    assert days[closed_day].status == DayStatus.CLOSED
    assert days[closed_day].closure_reason == "Inventory"
    assert days[_next_month_day(14)].status == DayStatus.CLOSED  # no slots at all
    html = response.content.decode()
    day_url = reverse("ticketing:day", kwargs={"slug": "nile", "day": free_day.isoformat()})
    few_url = reverse("ticketing:day", kwargs={"slug": "nile", "day": few_day.isoformat()})
    full_url = reverse("ticketing:day", kwargs={"slug": "nile", "day": full_day.isoformat()})
    assert f'class="cal-day available" href="{day_url}"' in html
    assert f'class="cal-day few" href="{few_url}"' in html
    assert full_url not in html
    assert 'title="Inventory"' in html


def test_day_page_lists_slots_with_places_left_and_sold_out(client, shop):
    exhibition, slot, adult = shop
    full = TimeSlotFactory(
        exhibition=exhibition, capacity=2, starts_at=slot.starts_at.replace(hour=11)
    )
    _sell(full, adult, 2)
    _sell(slot, adult, 3)
    day = timezone.localtime(slot.starts_at).date()
    response = client.get(reverse("ticketing:day", kwargs={"slug": "nile", "day": day.isoformat()}))
    assert response.status_code == 200
    assert [(s.slot.pk, s.free) for s in response.context["slots"]] == [(slot.pk, 7), (full.pk, 0)]
    html = response.content.decode()
    assert "7 places left" in html
    assert "Sold out" in html
    assert _checkout_url(slot) in html
    assert _checkout_url(full) not in html


def test_day_page_of_a_closure_shows_the_reason(client, shop):
    exhibition, slot, _adult = shop
    day = timezone.localtime(slot.starts_at).date()
    Closure.objects.create(site=exhibition.site, starts_on=day, ends_on=day, reason="Strike")
    response = client.get(reverse("ticketing:day", kwargs={"slug": "nile", "day": day.isoformat()}))
    assert response.status_code == 200
    assert response.context["slots"] == []
    assert "The museum is closed on this day: Strike" in response.content.decode()


# --- checkout ----------------------------------------------------------------------------


def test_checkout_page_shows_the_ticket_types_and_an_unticked_newsletter_box(client, shop):
    _exhibition, slot, adult = shop
    response = client.get(_checkout_url(slot))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'name="qty_{adult.pk}"' in html
    box = re.search(r'<input type="checkbox" name="newsletter"[^>]*>', html)
    assert box is not None
    assert "checked" not in box.group(0)
    assert "10 places left" in html


def test_checkout_post_holds_the_order_and_goes_to_the_pay_page_then_demo_pays(client, shop):
    _exhibition, slot, adult = shop
    # when a guest asks for two adult tickets
    response = client.post(_checkout_url(slot), _form(adult, 2))
    # then a held web order exists and the buyer is sent to its pay page
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "ticketing:order_pay", kwargs={"token": order.access_token}
    )
    assert order.status == Order.Status.PENDING
    assert order.channel == Order.Channel.WEB
    assert order.email == "marie@example.org"
    assert order.name == "Marie Curie"
    assert order.language == "en"
    assert order.total_cents == 2800
    assert order.user is None
    assert NewsletterConsent.objects.count() == 0
    # when the pay page's button is pressed, the demo provider's page opens
    pay = client.post(response["Location"])
    payment = Payment.objects.get()
    assert pay.status_code == 302
    assert pay["Location"] == reverse("ticketing:demo_pay", kwargs={"reference": payment.reference})
    # and paying there issues the tickets
    done = client.post(pay["Location"])
    assert done.status_code == 302
    assert done["Location"] == reverse(
        "ticketing:order_detail", kwargs={"token": order.access_token}
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert order.tickets.filter(status=Ticket.Status.VALID).count() == 2


def test_a_free_checkout_goes_straight_to_the_order_page(client, shop):
    exhibition, slot, _adult = shop
    free = TicketTypeFactory(site=exhibition.site, kind=TicketType.Kind.FREE, price_cents=0)
    response = client.post(_checkout_url(slot), _form(free, 1))
    order = Order.objects.get()
    assert order.status == Order.Status.PAID
    assert response["Location"] == reverse(
        "ticketing:order_detail", kwargs={"token": order.access_token}
    )


def test_ticking_the_newsletter_box_records_the_consent_with_wording_and_time(client, shop):
    _exhibition, slot, adult = shop
    before = timezone.now()
    client.post(_checkout_url(slot), _form(adult, 1, newsletter="on"))
    order = Order.objects.get()
    consent = NewsletterConsent.objects.get()
    assert consent.email == "marie@example.org"
    assert consent.order == order
    assert consent.given is True
    assert consent.source == NewsletterConsent.Source.CHECKOUT
    assert consent.wording_version == CHECKOUT_WORDING_VERSION
    assert consent.wording.startswith("Yes, send me the museum's newsletter")
    assert before <= consent.recorded_at <= timezone.now()


def _assert_error_page_keeps_input(response):
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="Marie Curie"' in html
    return html


def _assert_nothing_written():
    assert Order.objects.count() == 0
    assert Ticket.objects.count() == 0
    assert NewsletterConsent.objects.count() == 0
    assert OutboxEmail.objects.count() == 0


def test_checkout_without_tickets_is_refused_and_keeps_what_was_typed(client, shop):
    _exhibition, slot, adult = shop
    response = client.post(_checkout_url(slot), _form(adult, 0, newsletter="on"))
    html = _assert_error_page_keeps_input(response)
    assert "Choose at least one ticket." in html
    assert 'value="marie@example.org"' in html
    _assert_nothing_written()


def test_checkout_without_tickets_in_french_shows_the_translated_message(client, shop):
    _exhibition, slot, adult = shop
    response = client.post(_checkout_url(slot), _form(adult, 0), HTTP_ACCEPT_LANGUAGE="fr")
    html = _assert_error_page_keeps_input(response)
    assert "Choisissez au moins un billet." in html
    _assert_nothing_written()


def test_checkout_of_a_closed_day_in_french_shows_the_reason(client, shop):
    exhibition, slot, adult = shop
    day = timezone.localtime(slot.starts_at).date()
    Closure.objects.create(site=exhibition.site, starts_on=day, ends_on=day, reason="Grève")
    response = client.post(_checkout_url(slot), _form(adult, 1), HTTP_ACCEPT_LANGUAGE="fr")
    html = _assert_error_page_keeps_input(response)
    assert re.search(r"<p>Le musée est fermé ce jour-là\s*: Grève</p>", html)
    _assert_nothing_written()


def test_checkout_with_a_bad_email_shows_the_french_message(client, shop):
    _exhibition, slot, adult = shop
    response = client.post(
        _checkout_url(slot),
        _form(adult, 1, email="marie@", newsletter="on"),
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    html = _assert_error_page_keeps_input(response)
    assert "Saisissez une adresse e-mail valide." in html  # Django's French catalogue
    assert 'value="marie@"' in html
    _assert_nothing_written()


def test_checkout_of_more_than_allowed_per_order_is_refused(client, shop):
    _exhibition, slot, adult = shop
    response = client.post(_checkout_url(slot), _form(adult, 7))
    html = _assert_error_page_keeps_input(response)
    assert "Ensure this value is less than or equal to 6." in html
    _assert_nothing_written()


@pytest.mark.parametrize("quantity", ["-1", "abc", "1e3", "99999999999999999999"])
def test_checkout_with_garbage_quantities_is_refused(client, shop, quantity):
    _exhibition, slot, adult = shop
    response = client.post(_checkout_url(slot), _form(adult, quantity))
    _assert_error_page_keeps_input(response)
    _assert_nothing_written()


def test_checkout_of_a_sold_out_slot_is_refused_with_the_reason(client, shop):
    _exhibition, slot, adult = shop
    _sell(slot, adult, 6)
    _sell(slot, adult, 3)
    orders_before = Order.objects.count()
    response = client.post(_checkout_url(slot), _form(adult, 2))
    html = _assert_error_page_keeps_input(response)
    assert "Only 1 place is left in this time slot." in html
    assert Order.objects.count() == orders_before
    assert Ticket.objects.count() == 9


def test_checkout_is_rate_limited(client, shop, settings):
    _exhibition, slot, adult = shop
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout": "2/1m"}
    with time_machine.travel(timezone.now(), tick=False):
        first = client.post(_checkout_url(slot), _form(adult, 1))
        second = client.post(_checkout_url(slot), _form(adult, 1))
        third = client.post(_checkout_url(slot), _form(adult, 1))
    assert (first.status_code, second.status_code) == (302, 302)
    html = _assert_error_page_keeps_input(third)
    assert "Too many attempts from your connection." in html
    assert Order.objects.count() == 2


def test_checkout_for_a_signed_in_visitor_is_prefilled_and_linked(client, shop):
    _exhibition, slot, adult = shop
    user = User.objects.create_user("ada@example.org", first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    html = client.get(_checkout_url(slot)).content.decode()
    assert 'value="ada@example.org"' in html
    assert 'value="Ada Lovelace"' in html
    client.post(_checkout_url(slot), {**_form(adult, 1), "email": "ada@example.org"})
    assert Order.objects.get().user == user


def test_checkout_in_french_by_accept_language_stores_the_language(client, shop):
    _exhibition, slot, adult = shop
    client.post(_checkout_url(slot), _form(adult, 1), HTTP_ACCEPT_LANGUAGE="fr-BE,fr;q=0.9")
    assert Order.objects.get().language == "fr"


def test_checkout_in_french_by_the_language_cookie_stores_the_language(client, shop, settings):
    _exhibition, slot, adult = shop
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    client.post(_checkout_url(slot), _form(adult, 1))
    assert Order.objects.get().language == "fr"


def test_checkout_after_the_set_language_view_stores_the_language(client, shop):
    _exhibition, slot, adult = shop
    client.post(reverse("set_language"), {"language": "nl", "next": "/"})
    client.post(_checkout_url(slot), _form(adult, 1))
    assert Order.objects.get().language == "nl"


# --- garbage in URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "day", ["not-a-date", "2026-02-30", "2026-13-01", "9999-12-31", "0001-01-01", "20261301"]
)
def test_garbage_dates_in_the_url_are_404(client, shop, day):
    assert client.get(f"/visit/nile/{day}/").status_code == 404
    assert client.get(f"/visit/nile/{day}/1000/").status_code == 404


@pytest.mark.parametrize("hhmm", ["2561", "abcd", "10:00", "1", "999999"])
def test_garbage_times_in_the_url_are_404(client, shop, hhmm):
    _exhibition, slot, _adult = shop
    day = timezone.localtime(slot.starts_at).date().isoformat()
    assert client.get(f"/visit/nile/{day}/{hhmm}/").status_code == 404
    assert client.post(f"/visit/nile/{day}/{hhmm}/", {}).status_code == 404


@pytest.mark.parametrize("month", ["x", "2026-13", "99999999999999999999-1", "-1--1", "2026-1-1"])
def test_garbage_months_on_the_calendar_fall_back_to_this_month(client, shop, month):
    response = client.get("/visit/nile/", {"month": month})
    assert response.status_code == 200
    assert response.context["month"] == timezone.localdate().replace(day=1)


def test_an_unknown_exhibition_is_404(client, shop):
    assert client.get("/visit/nope/").status_code == 404


# --- the order page -------------------------------------------------------------------


def _paid_order(shop, quantity=2):
    _exhibition, slot, adult = shop
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, quantity)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="marie@example.org",
        name="Marie",
    )


def test_order_page_by_its_token(client, shop):
    order = _paid_order(shop)
    response = client.get(reverse("ticketing:order_detail", kwargs={"token": order.access_token}))
    assert response.status_code == 200
    html = response.content.decode()
    assert order.code in html
    assert reverse("ticketing:order_pdf", kwargs={"token": order.access_token}) in html


@pytest.mark.parametrize("token", ["wrong", "x" * 40, "x" * 300])
def test_order_page_with_a_wrong_token_is_404(client, shop, token):
    _paid_order(shop)
    assert client.get(f"/order/{token}/").status_code == 404
    assert client.get(f"/order/{token}/tickets.pdf").status_code == 404


def test_pdf_download_of_a_paid_order(client, shop):
    order = _paid_order(shop, quantity=2)
    response = client.get(reverse("ticketing:order_pdf", kwargs={"token": order.access_token}))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="tickets-{order.code}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert response.content.startswith(b"%PDF-")


def test_pdf_download_of_an_unpaid_order_is_404(client, shop):
    _exhibition, slot, adult = shop
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB, email="a@example.org"
    )
    url = reverse("ticketing:order_pdf", kwargs={"token": order.access_token})
    assert client.get(url).status_code == 404


def test_resend_sends_again_five_times_then_asks_to_contact_the_museum(client, shop):
    order = _paid_order(shop)
    url = reverse("ticketing:order_resend", kwargs={"token": order.access_token})
    # when the buyer asks for the tickets again five times
    for _ in range(5):
        response = client.post(url, follow=True)
        assert "The tickets are on their way to marie@example.org." in response.content.decode()
    # then five more e-mails are queued, and a sixth request is refused with a message
    assert OutboxEmail.objects.count() == 6
    response = client.post(url, follow=True)
    assert "The tickets have been sent several times already." in response.content.decode()
    order.refresh_from_db()
    assert order.resend_count == 5
    assert OutboxEmail.objects.count() == 6


def test_resend_of_an_unpaid_order_is_refused(client, shop):
    _exhibition, slot, adult = shop
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)], channel=Order.Channel.WEB, email="a@example.org"
    )
    url = reverse("ticketing:order_resend", kwargs={"token": order.access_token})
    response = client.post(url, follow=True)
    assert "Only paid orders have tickets to send." in response.content.decode()
    assert OutboxEmail.objects.count() == 0


# --- a fixed number of queries -----------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _day_with_slots(exhibition, day, count, adult, types=1):
    slots = [
        TimeSlotFactory(
            exhibition=exhibition,
            capacity=10,
            starts_at=_at(day, 9) + dt.timedelta(minutes=15 * i),
        )
        for i in range(count)
    ]
    for i in range(1, types):
        TicketTypeFactory(site=exhibition.site, name=f"Type {i}", exhibition=exhibition)
    for slot in slots[:2]:
        _sell(slot, adult, 1)
    return slots


@pytest.mark.parametrize("page", ["calendar", "day", "checkout"])
def test_pages_run_the_same_number_of_queries_for_3_or_30_slots(
    client, page, django_assert_num_queries
):
    # given two exhibitions: one with 3 slots and 1 ticket type a day, one with 30 and 6
    day = _next_month_day(10)
    small = ExhibitionFactory(slug="small")
    big = ExhibitionFactory(slug="big")
    small_slots = _day_with_slots(small, day, 3, TicketTypeFactory(site=small.site))
    big_slots = _day_with_slots(big, day, 30, TicketTypeFactory(site=big.site), types=6)
    for offset in (1, 2):  # more days for the calendar
        _day_with_slots(small, day + dt.timedelta(days=offset), 3, small.site.ticket_types.first())
        _day_with_slots(big, day + dt.timedelta(days=offset), 30, big.site.ticket_types.first())

    def url(exhibition, slots):
        if page == "calendar":
            return reverse("ticketing:calendar", kwargs={"slug": exhibition.slug}) + (
                f"?month={day:%Y-%m}"
            )
        if page == "day":
            return reverse(
                "ticketing:day", kwargs={"slug": exhibition.slug, "day": day.isoformat()}
            )
        return _checkout_url(slots[-1])

    client.get(url(small, small_slots))  # warm up what is cached per process
    # when both pages are shown
    expected = _queries(client, url(small, small_slots))
    # then the big one runs exactly as many queries
    with django_assert_num_queries(expected):
        response = client.get(url(big, big_slots))
    assert response.status_code == 200


def test_checkout_page_of_a_cancelled_slot_offers_other_times_instead_of_a_form(client, shop):
    # given a slot the museum has cancelled
    exhibition, slot, adult = shop
    slot.is_cancelled = True
    slot.save()
    # when a visitor opens its checkout page (e.g. from an old link)
    response = client.get(_checkout_url(slot))
    # then no order form is shown, only the way back to the other times
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="checkout"' not in body
    assert "This time slot cannot be booked any more." in body


def test_resend_limit_is_checked_by_the_service_under_the_order_lock(shop):
    # given a paid order already sent again five times
    from ticketing.errors import TicketingError
    from ticketing.services.orders import PUBLIC_RESEND_LIMIT, order_resend

    exhibition, slot, adult = shop
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        email="a@example.org",
        payment_method=Order.PaymentMethod.CASH,
    )
    Order.objects.filter(pk=order.pk).update(resend_count=PUBLIC_RESEND_LIMIT)
    outbox_before = OutboxEmail.objects.count()
    # when the buyer asks once more
    with pytest.raises(TicketingError):
        order_resend(order=order, limit=PUBLIC_RESEND_LIMIT)
    # then nothing is sent and the counter stays; staff (no limit) can still resend
    order.refresh_from_db()
    assert order.resend_count == PUBLIC_RESEND_LIMIT
    assert OutboxEmail.objects.count() == outbox_before
    order_resend(order=order)
    assert OutboxEmail.objects.count() == outbox_before + 1
