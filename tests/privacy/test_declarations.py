"""The registry's API, the discovery of every app's privacy.py, and the declared holds."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from django.core import checks
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CardVisit, MuseumCard, User
from accounts.privacy import cards_end_on_erasure
from museum.models import AuditEvent
from privacy import purposes
from privacy.declarations import (
    Category,
    DataSubject,
    Erasure,
    ErasureKind,
    Export,
    LegalBasis,
    Person,
    PersonLink,
)
from privacy.registry import AlreadyRegistered, PrivacyRegistry, Retention, registry
from tests.accounts.card_factories import at, desk_card
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place


def _order_declaration(target: PrivacyRegistry, **overrides):
    values = {
        "fields": ["language", "user"],
        "link": PersonLink(email="buyer__email", user="user"),
        "category": Category.CONTACT,
        "subjects": [DataSubject.BUYERS],
        "purpose": purposes.TICKET_SALES,
        "legal_basis": LegalBasis.CONTRACT,
        "retention": Retention.years_after_last_activity(5),
        "erasure": Erasure.anonymise({"language": "", "user": None}),
    }
    values.update(overrides)
    return target.register(Order, **values)


def test_every_app_and_third_party_model_is_discovered():
    apps_declared = {d.model._meta.app_label for d in registry.declarations}

    assert {"ticketing", "accounts", "newsletter", "museum"} <= apps_declared
    assert {"sessions", "account", "mfa", "admin"} <= apps_declared  # privacy/third_party.py


def test_the_system_check_finds_no_problem():
    messages = checks.run_checks(tags=["privacy"])

    assert [m.msg for m in messages if m.level >= checks.WARNING] == []


def test_declarations_are_immutable():
    declaration = registry.get("ticketing.order")

    with pytest.raises(dataclasses.FrozenInstanceError):
        declaration.fields = ("language",)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        declaration.erasure.kind = ErasureKind.DELETE  # type: ignore[misc]


def test_a_model_declared_twice_needs_its_own_key():
    own = PrivacyRegistry()
    _order_declaration(own)

    with pytest.raises(AlreadyRegistered, match="ticketing.order"):
        _order_declaration(own)
    second = _order_declaration(own, key="ticketing.order:other", fields=["user"])
    assert [d.key for d in own.for_model(Order)] == ["ticketing.order", "ticketing.order:other"]
    assert second.fields == ("user",)


def test_register_normalises_its_arguments():
    own = PrivacyRegistry()

    with_context = _order_declaration(own, export=["code"], category=[Category.CONTACT])
    custom = _order_declaration(own, key="custom", export=lambda rows: [])

    assert with_context.export == Export(context=("code",))
    assert with_context.categories == (Category.CONTACT,)
    assert with_context.export_fields() == ["pk", "language", "user", "code"]
    assert custom.export.rows is not None
    assert PersonLink(email="email").email == ("email",)


def test_a_person_is_known_by_lower_case_addresses_and_the_accounts_own():
    class Account:
        pk = 7
        email = "Ada@Example.org"

    person = Person.of(email=" ADA@example.ORG ", user=Account())

    assert person == Person(emails=frozenset({"ada@example.org"}), user_id=7)
    assert Person.of(email="", user=None).matching(email="email") is None


def test_the_purposes_come_in_their_order_once_each():
    codes = [p.code for p in registry.purposes()]

    assert codes[:3] == ["ticket_sales", "payments", "museum_card"]
    assert len(codes) == len(set(codes))


def test_a_legitimate_interest_is_shown_with_its_text():
    own = PrivacyRegistry()
    _order_declaration(
        own,
        legal_basis=LegalBasis.LEGITIMATE_INTEREST,
        legitimate_interest=_("Preventing fraud"),
    )

    assert own.problems() == []


# --- holds and the erasure hook, against the database -------------------------------------


def _desk_order(slot) -> Order:
    adult = TicketTypeFactory(site=slot.site)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email="ada@example.org",
    )


def _held(declaration_key: str, queryset, now: dt.datetime) -> set[int]:
    declaration = registry.get(declaration_key)
    [hold] = declaration.holds
    return set(queryset.filter(hold.rows(now)).values_list("pk", flat=True).distinct())


@pytest.mark.django_db
def test_an_order_with_a_visit_to_come_is_held_and_a_past_one_is_not():
    # given a paid order for tomorrow and one whose visit was yesterday
    future = _desk_order(TimeSlotFactory())
    past_slot = TimeSlotFactory()
    past = _desk_order(past_slot)
    pending = _desk_order(past_slot)
    Order.objects.filter(pk=pending.pk).update(status=Order.Status.REFUND_PENDING)
    type(past_slot).objects.filter(pk=past_slot.pk).update(
        starts_at=timezone.now() - dt.timedelta(days=1, hours=1),
        ends_at=timezone.now() - dt.timedelta(days=1),
    )

    # when the holds are evaluated now
    held = _held("ticketing.order", Order.objects.all(), timezone.now())

    # then the future visit and the refund to pay are held, the finished visit is not
    assert held == {future.pk, pending.pk}
    assert past.pk not in held


@pytest.mark.django_db
def test_a_card_is_held_while_valid_or_while_visits_are_unsettled():
    # given, on 15 March 2027: a card not yet started, a card valid until June, a card
    # ended whose last visit was in February (not yet settled), and one ended whose last
    # visit was in January (settled)
    now = at(dt.date(2027, 3, 15))
    waiting = desk_card(email="a@example.org")
    valid = desk_card(email="b@example.org")
    MuseumCard.objects.filter(pk=valid.pk).update(
        status=MuseumCard.Status.ACTIVE,
        valid_from=dt.date(2026, 6, 1),
        valid_until=dt.date(2027, 5, 31),
    )
    unsettled = desk_card(email="c@example.org")
    settled = desk_card(email="d@example.org")
    MuseumCard.objects.filter(pk__in=[unsettled.pk, settled.pk]).update(
        status=MuseumCard.Status.ENDED
    )
    site = TimeSlotFactory().site
    CardVisit.objects.create(card=unsettled, site=site, visited_at=at(dt.date(2027, 2, 1), 10))
    CardVisit.objects.create(card=settled, site=site, visited_at=at(dt.date(2027, 1, 31), 16))

    # when the holds are evaluated
    held = _held("accounts.museumcard", MuseumCard.objects.all(), now)

    # then all but the settled, ended card are held
    assert held == {waiting.pk, valid.pk, unsettled.pk}


@pytest.mark.django_db
def test_the_erasure_hook_ends_the_holders_card():
    # given a card not yet used
    card = desk_card(email="ada@example.org")

    # when the erasure hook runs on it
    cards_end_on_erasure(MuseumCard.objects.filter(pk=card.pk))

    # then the card has ended, and the audit trail says why
    card.refresh_from_db()
    assert (card.status, card.end_reason) == (MuseumCard.Status.ENDED, "erasure")
    event = AuditEvent.objects.get(action="card.ended")
    assert event.data["reason"] == "erasure"


@pytest.mark.django_db
def test_every_declared_anonymisation_is_a_valid_update():
    # given a row of a declared model, and every declaration that anonymises
    user = UserFactory(email="ada@example.org", first_name="Ada", phone="+32 2 555 01 01")
    anonymising = [d for d in registry.declarations if d.erasure.kind is ErasureKind.ANONYMISE]
    assert len(anonymising) >= 8

    # when each anonymisation is applied as one UPDATE (on no row but the user's)
    for declaration in anonymising:
        rows = declaration.model._default_manager.filter(pk__in=[])
        if declaration.model is User:
            rows = User.objects.filter(pk=user.pk)
        rows.update(**declaration.erasure.fields)

    # then the database accepted them all, and the account lost its personal data
    user.refresh_from_db()
    assert user.email == f"erased-{user.pk}@invalid"
    assert (user.first_name, user.phone, user.is_active) == ("", "", False)
    assert not user.has_usable_password()
