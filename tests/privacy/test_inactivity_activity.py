"""Seed 003 with the account's recorded activity: purchases, sign-ins and e-mails opened
keep an account; seven years without any of them anonymise it."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import time_machine
from anymail.signals import AnymailTrackingEvent, tracking
from django.apps import apps

from accounts.models import User
from museum.models import OutboxEmail
from privacy.purge import purge_run, purge_send_inactivity_notices
from tests.accounts.factories import UserFactory
from tests.privacy.test_purge import _order, at
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, TicketType
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ACCOUNTS = "accounts.user"
NOW = at(2026, 6, 1)


def _account(email: str, *, joined: dt.datetime, last_login: dt.datetime | None = None) -> User:
    user = UserFactory(email=email, first_name="Ada")
    User.objects.filter(pk=user.pk).update(date_joined=joined, last_login=last_login)
    return user


def _erased(user: User) -> bool:
    user.refresh_from_db()
    return user.email == f"erased-{user.pk}@invalid"


def test_a_purchase_six_years_ago_keeps_an_account_never_signed_in_since():
    # given an account opened nine years ago, never signed in, and one opened at the same
    # time that bought nothing
    buyer = _account("buyer@example.org", joined=at(2017, 5, 1))
    idle = _account("idle@example.org", joined=at(2017, 5, 1))
    # and a free ticket bought by the first one six years ago
    with time_machine.travel(at(2020, 6, 1), tick=False):
        slot = TimeSlotFactory(capacity=5)
        free = TicketTypeFactory(site=slot.site, kind=TicketType.Kind.FREE, price_cents=0)
        order_place(
            lines=[OrderLine(slot.pk, free.pk, 1)],
            channel=Order.Channel.WEB,
            email="buyer@example.org",
            name="Ada",
            user=buyer,
        )
    # when the purge runs today
    run = purge_run(as_of=NOW, only_rule=ACCOUNTS)
    # then only the account without activity for seven years is anonymised
    assert run.report[ACCOUNTS]["anonymised"] == 1
    assert not _erased(buyer)
    assert buyer.first_name == "Ada"
    assert _erased(idle)


def test_a_newsletter_opened_keeps_an_account_and_spares_it_the_notice(
    django_capture_on_commit_callbacks,
):
    # given an account last signed in eight years ago whose holder opened a letter a year ago
    reader = _account("reader@example.org", joined=at(2018, 1, 5), last_login=at(2018, 1, 5))
    with time_machine.travel(at(2025, 6, 1), tick=False):
        tracking.send(
            sender=object,
            event=AnymailTrackingEvent(event_type="opened", recipient="reader@example.org"),
            esp_name="Postmark",
        )
    # when the notices are sent and the purge runs today
    with django_capture_on_commit_callbacks(execute=False):
        queued = purge_send_inactivity_notices(as_of=NOW, notice_days=30)
    run = purge_run(as_of=NOW, only_rule=ACCOUNTS)
    # then the account is neither warned nor anonymised
    assert queued == 0
    assert OutboxEmail.objects.count() == 0
    assert run.report[ACCOUNTS]["anonymised"] == 0
    assert not _erased(reader)


def test_seven_years_without_any_activity_anonymise_the_account():
    # given an account whose last activity (a purchase) was on 31 May 2019, after its last
    # sign-in and its sign-up
    user = _account("ada@example.org", joined=at(2015, 1, 5), last_login=at(2016, 1, 5))
    User.objects.filter(pk=user.pk).update(last_activity_at=at(2019, 5, 31, 18))
    # when the purge runs on 31 May 2026 the account stays (seven years not yet over)
    before = purge_run(as_of=at(2026, 5, 31, 23, 59), only_rule=ACCOUNTS)
    assert before.report[ACCOUNTS]["anonymised"] == 0
    assert not _erased(user)
    # when it runs on 1 June 2026
    after = purge_run(as_of=at(2026, 6, 1, 0, 0), only_rule=ACCOUNTS)
    # then the account is anonymised
    assert after.report[ACCOUNTS]["anonymised"] == 1
    assert _erased(user)


def test_the_inactivity_notice_counts_from_the_last_activity(django_capture_on_commit_callbacks):
    # given an account last signed in ten years ago, last active on 20 June 2019
    user = _account("ada@example.org", joined=at(2015, 1, 5), last_login=at(2016, 1, 5))
    User.objects.filter(pk=user.pk).update(last_activity_at=at(2019, 6, 20, 10))
    # when the notices are sent on 1 June 2026, 30 days ahead
    with django_capture_on_commit_callbacks(execute=False):
        queued = purge_send_inactivity_notices(as_of=NOW, notice_days=30)
    # then the holder is told the day seven years after that activity
    assert queued == 1
    email = OutboxEmail.objects.get()
    assert email.to == "ada@example.org"
    assert email.subject == "Your account will be anonymised on 21 June 2026"


def test_the_backfill_migration_counts_past_sign_ins_and_paid_orders():
    # given accounts from before the activity was recorded
    signed_in = _account("in@example.org", joined=at(2015, 1, 5), last_login=at(2018, 3, 1))
    never = _account("never@example.org", joined=at(2016, 2, 1))
    bought = _account("bought@example.org", joined=at(2015, 1, 5), last_login=at(2016, 1, 5))
    guest = _account("guest@example.org", joined=at(2015, 1, 5), last_login=at(2016, 1, 5))
    recorded = _account("recorded@example.org", joined=at(2015, 1, 5))
    User.objects.filter(pk=recorded.pk).update(last_activity_at=at(2025, 1, 1))
    Order.objects.filter(pk=_order(email="", when=at(2020, 4, 2), user=bought).pk).update(
        paid_at=at(2020, 4, 2)
    )
    Order.objects.filter(pk=_order(email="Guest@example.org", when=at(2021, 7, 3)).pk).update(
        paid_at=at(2021, 7, 3)
    )
    # when the data migration runs
    migration = importlib.import_module("accounts.migrations.0009_user_last_activity_backfill")
    migration.backfill(apps, None)
    # then each account's activity is the latest of its sign-in, sign-up and paid orders,
    # and an activity already recorded is kept
    activity = dict(User.objects.values_list("email", "last_activity_at"))
    assert activity[signed_in.email] == at(2018, 3, 1)
    assert activity[never.email] == at(2016, 2, 1)
    assert activity[bought.email] == at(2020, 4, 2)
    assert activity[guest.email] == at(2021, 7, 3)
    assert activity[recorded.email] == at(2025, 1, 1)
