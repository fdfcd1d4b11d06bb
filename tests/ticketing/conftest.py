"""Fixtures shared by the ticketing test modules."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client

from accounts.models import User
from tests.fakes.stripe_http import FakeStripeHTTP, install
from tests.ticketing.admin_helpers import NOW, _staff, at
from tests.ticketing.api_helpers import _client
from tests.ticketing.factories import (
    TicketTypeFactory,
    TimeSlotFactory,
)
from tests.ticketing.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET
from ticketing.models import TimeSlot
from ticketing.services.resellers import reseller_create


@pytest.fixture
def partner(db):
    reseller, token = reseller_create(name="Partner Tours", contact_email="api@partner.example")
    return reseller, _client(token)


@pytest.fixture
def rival(db):
    reseller, token = reseller_create(name="Rival Tickets", contact_email="api@rival.example")
    return reseller, _client(token)


@pytest.fixture
def shop(db):
    slot = TimeSlotFactory(capacity=10)
    adult = TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)
    child = TicketTypeFactory(
        site=slot.site, kind="child", name="Child", price_cents=500, max_per_order=4
    )
    return slot, adult, child


@pytest.fixture
def fake_stripe(settings, monkeypatch) -> FakeStripeHTTP:
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.PAYMENT_PROVIDER = "stripe"
    return install(monkeypatch)


@pytest.fixture
def _frozen_clock():
    """The admin tests' Wednesday morning (their modules use it via pytestmark)."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def desk_user(db) -> User:
    return _staff("desk@museum.example", "Front desk")


@pytest.fixture
def manager_user(db) -> User:
    return _staff("manager@museum.example", "Manager")


@pytest.fixture
def desk(desk_user) -> Client:
    client = Client()
    client.force_login(desk_user)
    return client


@pytest.fixture
def manager(manager_user) -> Client:
    client = Client()
    client.force_login(manager_user)
    return client


@pytest.fixture
def slot(db) -> TimeSlot:
    return TimeSlotFactory(starts_at=at(10), ends_at=at(10, 30), capacity=10)


@pytest.fixture
def adult(slot):
    return TicketTypeFactory(site=slot.site, name="Adult", price_cents=1400)
