"""My account: personal data, language, orders, consents, data download, closure request."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.models import AccountClosureRequest, User
from museum.models import AuditEvent, OutboxEmail
from newsletter.models import NewsletterConsent
from newsletter.services import account_consent_wording, consent_record
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

HOME = reverse("my_account:home")
PROFILE = reverse("my_account:profile")
ORDERS = reverse("my_account:orders")
COMMUNICATION = reverse("my_account:communication")
CLOSE = reverse("my_account:close")
DATA = reverse("my_account:data_download")


@pytest.fixture
def ada(client):
    user = UserFactory(email="ada@example.org", first_name="Ada", last_name="Lovelace")
    client.force_login(user)
    return user


def _order(user=None, email="ada@example.org") -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Someone",
    )
    Order.objects.filter(pk=order.pk).update(user=user)
    order.refresh_from_db()
    return order


def _profile_form(**values):
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "",
        "postal_address": "",
        "year_of_birth": "",
        **values,
    }


# --- access ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [HOME, PROFILE, ORDERS, COMMUNICATION, CLOSE, DATA])
def test_account_pages_send_an_anonymous_visitor_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


def test_an_account_without_a_verified_address_sees_no_orders(client):
    # given a signed-in account whose address is not verified, with an order
    user = UserFactory(email="lea@example.org", verified=False)
    order = _order(user=user, email="lea@example.org")
    client.force_login(user)

    # when it opens its orders
    response = client.get(ORDERS)

    # then it is asked to verify its address and no order is shown
    assert "account/verified_email_required.html" in [t.name for t in response.templates]
    assert order.code not in response.content.decode()


def test_the_overview_shows_the_parts_of_the_account(client, ada):
    html = client.get(HOME).content.decode()
    assert "ada@example.org" in html
    assert reverse("account_email") in html
    assert DATA in html
    assert CLOSE in html
    assert "The museum card pages will appear here." in html or "/account/card/" in html


def test_the_header_links_to_my_account_when_signed_in(client, ada):
    html = client.get(reverse("ticketing:home")).content.decode()
    assert f'href="{HOME}"' in html


# --- personal data -----------------------------------------------------------------------


def test_profile_update_saves_the_optional_data_and_audits_the_changed_fields(client, ada):
    # when the holder fills in a phone, an address and a year of birth
    response = client.post(
        PROFILE,
        _profile_form(
            phone="+32 2 555 12 34", postal_address="Rue 1\n1000 Bruxelles", year_of_birth="1990"
        ),
    )

    # then they are saved and the audit event names the fields, not their values
    assert response.status_code == 302
    ada.refresh_from_db()
    assert (ada.phone, ada.postal_address, ada.year_of_birth) == (
        "+32 2 555 12 34",
        "Rue 1\n1000 Bruxelles",
        1990,
    )
    event = AuditEvent.objects.get(action="account.profile_updated")
    assert event.data == {"fields": ["phone", "postal_address", "year_of_birth"]}


def test_profile_page_shows_why_each_field_is_asked(client, ada):
    html = client.get(PROFILE).content.decode()
    for reason in [
        "only used to reach you about a booking that changes",
        "only used to post a museum card or an invoice you ask for",
        "used only for age-based prices and anonymous statistics",
        "fills in your name when you buy tickets",
    ]:
        assert reason in html


def test_bad_phone_and_year_1800_are_refused_in_french_keeping_what_was_typed(client, ada):
    # given the holder's stored data
    User.objects.filter(pk=ada.pk).update(phone="+32 2 555 00 00", year_of_birth=1980)

    # when a French visitor types a bad phone and 1800
    response = client.post(
        PROFILE,
        _profile_form(first_name="Augusta", phone="call me maybe", year_of_birth="1800"),
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    # then the form comes back with French messages next to the fields
    assert response.status_code == 400
    html = response.content.decode()
    assert "Assurez-vous que cette valeur est supérieure ou égale à 1900." in html
    assert 'id="id_year_of_birth_error"' in html
    assert 'aria-describedby="id_year_of_birth_helptext id_year_of_birth_error"' in html
    assert 'id="id_phone_error"' in html
    # and keeps what was typed
    assert 'value="call me maybe"' in html
    assert 'value="1800"' in html
    assert 'value="Augusta"' in html
    # and nothing was saved or audited
    ada.refresh_from_db()
    assert (ada.first_name, ada.phone, ada.year_of_birth) == ("Ada", "+32 2 555 00 00", 1980)
    assert not AuditEvent.objects.filter(action="account.profile_updated").exists()


def test_a_year_of_birth_in_the_future_is_refused(client, ada):
    next_year = timezone.localdate().year + 1
    response = client.post(PROFILE, _profile_form(year_of_birth=str(next_year)))
    assert response.status_code == 400
    assert "The year of birth cannot be in the future." in response.content.decode()
    ada.refresh_from_db()
    assert ada.year_of_birth is None


# --- language --------------------------------------------------------------------------


def test_choosing_a_language_stores_it_and_switches_the_site(client, ada, settings):
    # when the holder chooses Finnish
    response = client.post(reverse("my_account:language"), {"language": "fi"}, follow=True)

    # then it is stored, the cookie is set and the next page speaks Finnish
    ada.refresh_from_db()
    assert ada.preferred_language == "fi"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "fi"
    assert '<html lang="fi">' in response.content.decode()


def test_an_unknown_language_changes_nothing(client, ada, settings):
    client.post(reverse("my_account:language"), {"language": "xx"})
    ada.refresh_from_db()
    assert ada.preferred_language == "en"
    assert settings.LANGUAGE_COOKIE_NAME not in client.cookies


def test_signing_in_switches_the_site_to_the_preferred_language(client, settings):
    from tests.accounts.factories import PASSWORD

    UserFactory(email="sv@example.org", preferred_language="sv")
    client.post(reverse("account_login"), {"login": "sv@example.org", "password": PASSWORD})
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "sv"


# --- orders ------------------------------------------------------------------------------


def test_my_orders_lists_only_my_orders_with_their_tickets(client, ada):
    # given an order of the holder, one of another account and a guest order
    mine = _order(user=ada)
    theirs = _order(user=UserFactory(email="bob@example.org"), email="bob@example.org")
    guest = _order(user=None, email="carol@example.org")

    # when the holder opens the orders
    html = client.get(ORDERS).content.decode()

    # then only the holder's order is listed, with its tickets and its link
    assert mine.code in html
    assert reverse("my_account:order", args=[mine.code]) in html
    assert html.count("Adult ·") == 2
    assert theirs.code not in html
    assert guest.code not in html


def test_my_order_link_opens_the_order_page(client, ada):
    mine = _order(user=ada)
    response = client.get(reverse("my_account:order", args=[mine.code]))
    assert response.status_code == 302
    assert response["Location"] == reverse("ticketing:order_detail", args=[mine.access_token])


@pytest.mark.parametrize("code", ["THEIRS", "ZZZZZZZZ", "1", "x" * 300, "%00"])
def test_guessing_order_codes_in_my_account_is_404(client, ada, code):
    theirs = _order(user=UserFactory(email="bob@example.org"), email="bob@example.org")
    code = theirs.code if code == "THEIRS" else code
    response = client.get(f"{ORDERS}{code}/")
    assert response.status_code == 404
    assert theirs.access_token not in response.content.decode()


# --- communication preferences ----------------------------------------------------------


def test_giving_and_withdrawing_consent_keeps_the_history(client, ada):
    # given a consent given earlier at checkout
    with time_machine.travel(dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)):
        consent_record(
            email="ada@example.org",
            name="Ada",
            language="en",
            given=True,
            source=NewsletterConsent.Source.CHECKOUT,
        )

    # when the holder withdraws it, then gives it again in French
    with time_machine.travel(dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC)):
        client.post(COMMUNICATION, {})
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)):
        client.post(COMMUNICATION, {"subscribe": "on"}, HTTP_ACCEPT_LANGUAGE="fr")

    # then three rows tell the story, the account's with their wording and version
    rows = list(NewsletterConsent.objects.filter(email="ada@example.org").order_by("recorded_at"))
    assert [(r.given, r.source) for r in rows] == [
        (True, "checkout"),
        (False, "account"),
        (True, "account"),
    ]
    assert rows[1].wording == "No, do not send me the museum's newsletter any more."
    assert rows[2].language == "fr"
    with translation.override("fr"):
        assert rows[2].wording == account_consent_wording(given=True)
    assert rows[2].wording_version == "2026-11-1"
    assert rows[1].user == ada
    # and the page shows the current choice and the history
    html = client.get(COMMUNICATION).content.decode()
    assert "checked" in html
    assert html.count("<tr><td>") == 3


def test_saving_the_same_choice_records_nothing(client, ada):
    client.post(COMMUNICATION, {})
    assert NewsletterConsent.objects.count() == 0


def test_consents_of_other_addresses_are_not_shown(client, ada):
    consent_record(
        email="bob@example.org",
        name="Bob",
        language="en",
        given=True,
        source=NewsletterConsent.Source.CHECKOUT,
    )
    html = client.get(COMMUNICATION).content.decode()
    assert "No choice recorded yet." in html


# --- download my data --------------------------------------------------------------------


def test_data_download_holds_only_my_own_data(client, ada):
    # given the holder's data and another account's
    mine = _order(user=ada)
    bob = UserFactory(email="bob@example.org", first_name="Bob")
    theirs = _order(user=bob, email="bob@example.org")
    guest = _order(user=None, email="ada@example.org")  # not yet attached: not the account's
    for email in ["ada@example.org", "bob@example.org"]:
        consent_record(email=email, name="", language="en", given=True, source="checkout")

    # when the holder downloads the data
    response = client.get(DATA)

    # then it is a JSON attachment, not cached
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="my-museum-account-')
    assert response["Cache-Control"] == "private, no-store"
    data = json.loads(response.content)
    # with the holder's profile, order and tickets, consent, and nothing of anyone else
    assert data["profile"]["email"] == "ada@example.org"
    assert [o["code"] for o in data["orders"]] == [mine.code]
    assert [t["type"] for t in data["orders"][0]["tickets"]] == ["Adult", "Adult"]
    assert [c["email"] for c in data["newsletter_consents"]] == ["ada@example.org"]
    assert data["museum_cards"] == []
    body = response.content.decode()
    assert theirs.code not in body and guest.code not in body
    assert "bob@example.org" not in body and "Bob" not in body


def test_the_page_leads_to_the_full_copy_on_the_privacy_request_page(client, ada):
    html = client.get(HOME).content.decode()
    assert "For a complete copy of everything the museum holds about you" in html
    assert f'href="{reverse("privacy:request")}"' in html


# --- delete my account -----------------------------------------------------------------


def test_closure_request_is_recorded_once_audited_and_confirmed_by_email(
    client, ada, django_capture_on_commit_callbacks
):
    # when the holder asks twice for the account to be deleted
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(CLOSE, {"reason": "Moving abroad", "confirm": "on"})
        second = client.post(CLOSE, {"reason": "again", "confirm": "on"})

    # then one open request exists, with one audit event and one confirmation e-mail
    assert first.status_code == 302
    assert second.status_code == 200
    request = AccountClosureRequest.objects.get()
    assert (request.user, request.email, request.status, request.reason) == (
        ada,
        "ada@example.org",
        AccountClosureRequest.Status.OPEN,
        "Moving abroad",
    )
    assert AuditEvent.objects.filter(action="account.closure_requested").count() == 1
    [email] = OutboxEmail.objects.filter(dedupe_key__startswith="accounts.closure_requested:")
    assert email.to == "ada@example.org"
    assert email.subject == "We received your request to delete your account"
    assert "Within one month" in email.body_text
    # and the page says what happens next, without a second form
    html = client.get(CLOSE).content.decode()
    assert "What happens next" in html
    assert "We received your request on" in html
    assert 'name="confirm"' not in html


def test_closure_request_service_is_idempotent_while_open():
    from accounts.services.users import closure_request_open

    user = UserFactory()
    first, created = closure_request_open(user=user, reason="")
    again, created_again = closure_request_open(user=user, reason="other")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert AccountClosureRequest.objects.count() == 1
    assert OutboxEmail.objects.filter(to=user.email).count() == 1


def test_closure_request_in_the_holders_language(client, ada):
    User.objects.filter(pk=ada.pk).update(preferred_language="fr")
    client.post(CLOSE, {"confirm": "on"})
    email = OutboxEmail.objects.get(dedupe_key__startswith="accounts.closure_requested:")
    assert email.language == "fr"
    with translation.override("fr"):
        assert email.subject == gettext("We received your request to delete your account")


def test_closure_request_without_the_confirmation_box_records_nothing(client, ada):
    response = client.post(CLOSE, {"reason": "hmm"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Tick the box to confirm that you want this." in html
    assert "hmm</textarea>" in html
    assert AccountClosureRequest.objects.count() == 0
    assert not AuditEvent.objects.filter(action="account.closure_requested").exists()
    assert OutboxEmail.objects.count() == 0


# --- checkout prefill ------------------------------------------------------------------


def test_a_signed_in_checkout_is_prefilled_with_the_holders_name_and_address(client, ada):
    slot = TimeSlotFactory(capacity=20)
    TicketTypeFactory(site=slot.site)
    local = timezone.localtime(slot.starts_at)
    url = reverse(
        "ticketing:checkout",
        kwargs={
            "slug": slot.exhibition.slug,
            "day": local.date().isoformat(),
            "hhmm": local.strftime("%H%M"),
        },
    )
    html = client.get(url).content.decode()
    assert 'value="Ada Lovelace"' in html
    assert 'value="ada@example.org"' in html
