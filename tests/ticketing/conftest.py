"""Fixtures shared by the ticketing test modules."""

from __future__ import annotations

import pytest

from tests.fakes.stripe_http import FakeStripeHTTP, install
from tests.ticketing.api_helpers import _client
from tests.ticketing.factories import (
    TicketTypeFactory,
    TimeSlotFactory,
)
from tests.ticketing.stripe_helpers import SECRET_KEY, WEBHOOK_SECRET
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
