"""Coverage: every field of every installed model that may hold personal data is declared.

The walk covers Django's and third-party models too. A field is suspect by its type (an
e-mail or IP address, a file, free text, JSON, a link to an account) or by its name; it
must be declared as personal data or as not personal, with a reason. When this test
fails, declare the listed fields in the app's ``privacy.py``.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from privacy import purposes
from privacy.coverage import base_field_name, is_suspect, undeclared_fields
from privacy.declarations import Category, DataSubject, Erasure, Hold, LegalBasis, PersonLink
from privacy.registry import PrivacyRegistry, Retention, RetentionRule, registry
from ticketing.models import Order, OrderBuyer


def test_every_field_that_may_hold_personal_data_is_declared():
    # given every installed model, Django's and third-party ones included
    every_model = apps.get_models()

    # when the suspect fields are compared with the declarations
    missing = undeclared_fields(registry, every_model)

    # then none is left undeclared
    assert missing == [], (
        "Fields that may hold personal data are not declared (privacy.registry.register "
        "or not_personal, in the app's privacy.py): " + ", ".join(missing)
    )


def test_the_walk_sees_third_party_and_translated_fields():
    # the walk includes Django's, allauth's and the museum's own models
    labels = {model._meta.label for model in apps.get_models()}
    assert {"sessions.Session", "account.EmailAddress", "mfa.Authenticator"} <= labels
    assert {"admin.LogEntry", "ticketing.Order", "accounts.MuseumCard"} <= labels
    # and a translated catalogue field is covered by its original's declaration
    ticket_type = apps.get_model("ticketing", "TicketType")
    name_fr = ticket_type._meta.get_field("name_fr")
    assert is_suspect(name_fr)
    assert base_field_name(name_fr) == "name"


@pytest.mark.parametrize(
    ("label", "field", "suspect"),
    [
        ("ticketing.OrderBuyer", "email", True),  # an e-mail address
        ("ticketing.OrderBuyer", "name", True),  # by name
        ("ticketing.Order", "user", True),  # a link to an account
        ("ticketing.Order", "created_by", True),  # a link to a staff account
        ("accounts.User", "postal_address", True),
        ("accounts.User", "year_of_birth", True),
        ("accounts.MuseumCard", "gift_greeting", True),  # free text
        ("museum.AuditEvent", "data", True),  # JSON
        ("sessions.Session", "session_data", True),  # free text
        ("account.EmailConfirmation", "email_address", True),
        ("ticketing.Order", "total_cents", False),
        ("ticketing.Order", "site", False),  # a link, but not to a person
        ("ticketing.TimeSlot", "starts_at", False),
        ("ticketing.Ticket", "secret", False),
    ],
)
def test_the_heuristic_flags_personal_looking_fields(label, field, suspect):
    model_field = apps.get_model(label)._meta.get_field(field)

    assert is_suspect(model_field) is suspect


def test_an_undeclared_field_is_listed_by_model_and_field():
    # given a registry that declares only part of an order's buyer, and nothing of the order
    partial = PrivacyRegistry()
    partial.register(
        OrderBuyer,
        fields=["email"],
        link=PersonLink(email="email"),
        category=Category.CONTACT,
        subjects=[DataSubject.BUYERS],
        purpose=purposes.TICKET_SALES,
        legal_basis=LegalBasis.CONTRACT,
        retention=Retention.years_after_last_activity(5),
        erasure=Erasure.delete(),
    )

    # when the coverage is computed for the order and its buyer
    missing = undeclared_fields(partial, [Order, OrderBuyer])

    # then the undeclared suspect fields are listed, the declared one is not
    assert missing == [
        "ticketing.Order.created_by",
        "ticketing.Order.user",
        "ticketing.OrderBuyer.name",
    ]


# --- the declarations themselves ----------------------------------------------------------


def test_every_declaration_is_sound():
    # fields exist, links resolve to an address or the account, retention anchors are
    # dates, erasure names declared fields, holds compile, hooks import
    assert registry.problems() == []


def test_every_declaration_names_existing_columns_a_link_and_a_retention_rule():
    for declaration in registry.declarations:
        model = declaration.model
        for name in declaration.fields:
            model_field = model._meta.get_field(name)
            assert model_field.concrete and not model_field.many_to_many, declaration.key
        link = declaration.link
        assert link.email or link.user or link.generic or link.q or link.match, declaration.key
        assert isinstance(declaration.retention, RetentionRule), declaration.key
        assert declaration.retention.description, declaration.key


def test_not_personal_entries_name_existing_fields_with_a_reason():
    for entry in registry.not_personal_entries:
        assert str(entry.reason).strip()
        for name in entry.fields:
            assert isinstance(entry.model._meta.get_field(name), models.Field)


def _sample(**overrides):
    values = {
        "fields": ["language", "user"],
        "link": PersonLink(email="buyer__email"),
        "category": Category.CONTACT,
        "subjects": [DataSubject.BUYERS],
        "purpose": purposes.TICKET_SALES,
        "legal_basis": LegalBasis.CONTRACT,
        "retention": Retention.years_after_last_activity(5),
        "erasure": Erasure.delete(),
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"fields": ["language", "nickname"]}, "field 'nickname' does not exist"),
        ({"link": PersonLink(email="emial")}, "e-mail link 'emial' does not resolve"),
        ({"link": PersonLink(email="total_cents")}, "e-mail link 'total_cents' is not a text"),
        ({"link": PersonLink(user="site")}, "user link 'site' does not lead to accounts.User"),
        ({"link": PersonLink()}, "the link to a person is empty"),
        ({"retention": None}, "needs a RetentionRule"),
        (
            {"retention": Retention.years_after_year_end(7, of="status")},
            "retention anchor 'status' is not a date",
        ),
        ({"erasure": Erasure.keep(reason="")}, "keeping rows on erasure needs a reason"),
        (
            {"erasure": Erasure.anonymise({"currency": ""})},
            "anonymises 'currency', which is not a declared field",
        ),
        (
            {"erasure": Erasure.anonymise({"language": None})},
            "anonymises 'language' to NULL but the column is NOT NULL",
        ),
        (
            {"retention": Retention.inactivity_anonymise(7, activity="created_at")},
            "retention ends in anonymisation but the erasure names no fields",
        ),
        (
            {"legal_basis": LegalBasis.LEGITIMATE_INTEREST},
            "a legitimate interest must be stated",
        ),
        (
            {"erasure": Erasure.delete(hook="accounts.privacy.no_such_hook")},
            "erasure hook 'accounts.privacy.no_such_hook' cannot be imported",
        ),
        (
            {"holds": [Hold(code="bad", reason=_("x"), rows=lambda now: Q(no_such_field=now))]},
            "hold 'bad' does not compile",
        ),
    ],
)
def test_a_broken_declaration_is_reported(overrides, problem):
    # given a registry with one broken declaration of the order
    broken = PrivacyRegistry()
    broken.register(Order, **_sample(**overrides))

    # when it is checked
    problems = broken.problems()

    # then the problem is named, with the declaration's key
    assert any(p.startswith("ticketing.order: ") and problem in p for p in problems), problems


def test_a_field_cannot_be_both_personal_and_not():
    both = PrivacyRegistry()
    both.register(Order, **_sample())
    both.not_personal(Order, ["language"], reason=_("a trade name"))

    assert both.problems() == ["ticketing.order.language: declared both personal and not personal"]
