"""An account's last activity (seed 003): sign-ins, paid orders and e-mails opened."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent, tracking
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services.users import account_activity_record
from tests.accounts.factories import PASSWORD, UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, TicketType
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
WEBHOOK_SECRET = "anymail:s3cret-webhook"


def _activity(user: User) -> dt.datetime | None:
    return User.objects.values_list("last_activity_at", flat=True).get(pk=user.pk)


def _free_order(**kwargs) -> Order:
    slot = TimeSlotFactory(capacity=10)
    free = TicketTypeFactory(site=slot.site, kind=TicketType.Kind.FREE, price_cents=0)
    return order_place(
        lines=[OrderLine(slot.pk, free.pk, 1)], channel=Order.Channel.WEB, name="Ada", **kwargs
    )


def _opened(recipient: str, *, event_type: str = "opened", timestamp=None) -> None:
    event = AnymailTrackingEvent(event_type=event_type, recipient=recipient, timestamp=timestamp)
    tracking.send(sender=object, event=event, esp_name="Postmark")


# --- sign-in ---------------------------------------------------------------------------


def test_signing_in_records_the_accounts_activity(client):
    # given an account never seen since it was created
    user = UserFactory(email="ada@example.org")
    other = UserFactory(email="bob@example.org")
    assert _activity(user) is None
    # when its holder signs in through allauth's form at a fixed time
    with time_machine.travel(NOON, tick=False):
        response = client.post(
            reverse("account_login"), {"login": "ada@example.org", "password": PASSWORD}
        )
    # then the sign-in is the account's last activity, and only this account's
    assert response.status_code == 302
    assert _activity(user) == NOON
    assert _activity(other) is None


def test_a_failed_sign_in_is_no_activity(client):
    user = UserFactory(email="ada@example.org")
    response = client.post(
        reverse("account_login"), {"login": "ada@example.org", "password": "wrong-one"}
    )
    assert response.status_code == 200
    assert _activity(user) is None


# --- paid orders -----------------------------------------------------------------------


def test_a_paid_order_records_the_activity_of_its_account_and_of_its_address():
    # given the buyer's account, an account of the order's address in another case,
    # and an unrelated account
    buyer = UserFactory(email="buyer@example.org")
    same_address = UserFactory(email="Guest@Example.org")
    other = UserFactory(email="other@example.org")
    # when the buyer's free order is issued (paid) at a fixed time, with the guest's address
    with time_machine.travel(NOON, tick=False):
        _free_order(user=buyer, email="GUEST@example.org")
    # then both the ordering account and the account of that address were active then
    assert _activity(buyer) == NOON
    assert _activity(same_address) == NOON
    assert _activity(other) is None


def test_an_order_waiting_for_payment_is_no_activity():
    # given an account that orders a ticket with a price (held until paid)
    buyer = UserFactory(email="buyer@example.org")
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site)
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.WEB,
        email="buyer@example.org",
        user=buyer,
        now=NOON,
    )
    # then nothing is recorded until it is paid
    assert order.status == Order.Status.PENDING
    assert _activity(buyer) is None


def test_activity_never_moves_back():
    # given an account active at noon
    user = UserFactory(email="ada@example.org")
    assert account_activity_record(user_id=user.pk, now=NOON) == 1
    # when an older event arrives (a late webhook)
    changed = account_activity_record(email="ADA@example.org", now=NOON - dt.timedelta(days=3))
    # then the later moment stays
    assert changed == 0
    assert _activity(user) == NOON


def test_activity_without_a_person_changes_nothing():
    user = UserFactory(email="ada@example.org")
    assert account_activity_record(email="  ", now=NOON) == 0
    assert account_activity_record(email="nobody@example.org", now=NOON) == 0
    assert _activity(user) is None


# --- e-mails opened (the mail provider's tracking webhook) -----------------------------


def test_an_email_opened_or_clicked_is_activity_of_the_account_with_that_address():
    ada = UserFactory(email="ada@example.org")
    bob = UserFactory(email="bob@example.org")
    opened_at = NOON - dt.timedelta(hours=2)
    with time_machine.travel(NOON, tick=False):
        _opened("Ada@Example.org", timestamp=opened_at)
        _opened("bob@example.org", event_type="clicked", timestamp=None)
    # the provider's time counts; without one, the time the webhook arrives
    assert _activity(ada) == opened_at
    assert _activity(bob) == NOON


def test_other_tracking_events_and_future_times_do_not_count_as_opened():
    ada = UserFactory(email="ada@example.org")
    bob = UserFactory(email="bob@example.org")
    with time_machine.travel(NOON, tick=False):
        for event_type in ("delivered", "bounced", "queued", "complained"):
            _opened("ada@example.org", event_type=event_type, timestamp=NOON)
        # a clock ahead (or a forged event) cannot push the activity into the future
        _opened("bob@example.org", timestamp=NOON + dt.timedelta(days=400))
    assert _activity(ada) is None
    assert _activity(bob) == NOON


@override_settings(ANYMAIL={"WEBHOOK_SECRET": WEBHOOK_SECRET})
def test_the_providers_open_webhook_records_the_activity(client):
    # given an account, and Postmark's "Open" webhook for its address
    user = UserFactory(email="ada@example.org")
    payload = {
        "RecordType": "Open",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "ada@example.org",
        "ReceivedAt": "2026-03-10T11:30:00Z",
        "FirstOpen": True,
        "Tag": "",
        "Metadata": {},
    }
    auth = "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    url = reverse("anymail:postmark_tracking_webhook")
    # when it arrives without the webhook secret, then nothing is recorded
    refused = client.post(url, json.dumps(payload), content_type="application/json")
    assert refused.status_code == 400
    assert _activity(user) is None
    # when it arrives with the secret
    with time_machine.travel(NOON, tick=False):
        response = client.post(
            url, json.dumps(payload), content_type="application/json", HTTP_AUTHORIZATION=auth
        )
    # then the open is the account's last activity, at the provider's time
    assert response.status_code == 200
    assert _activity(user) == dt.datetime(2026, 3, 10, 11, 30, tzinfo=dt.UTC)
    assert timezone.is_aware(_activity(user))
