"""Erasure: the preview equals what the erasure does; the replay repeats it on a restored copy."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import MuseumCard, User
from museum.emails import email_enqueue
from museum.models import OutboxEmail
from newsletter.models import NewsletterConsent
from newsletter.services import consent_record
from privacy.erasure import erasure_preview, erasure_run, subject_digest
from privacy.models import ErasureRecord, ProcessingRestriction, SubjectRequest
from privacy.registry import registry
from privacy.requests import SubjectRequestError, request_submit, request_verify, verification_token
from privacy.selectors import is_restricted
from tests.accounts.card_factories import desk_card
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, OrderBuyer, Ticket
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ADA = "ada@example.org"
BOB = "bob@example.org"
NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _order(email: str, *, user=None) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Someone",
    )
    if user is not None:
        Order.objects.filter(pk=order.pk).update(user=user)
    return order


@pytest.fixture
def ada():
    """Ada: an account, a guest order and an account order, a museum card, a newsletter
    consent, an e-mail sent to her; Bob has an order, a card and a consent too."""
    user = UserFactory(email=ADA, first_name="Ada", last_name="Lovelace", phone="+32 2 555 01")
    _order("Ada@Example.org")
    _order(ADA, user=user)
    desk_card(name="Ada Lovelace", email=ADA)
    consent_record(email=ADA, name="Ada", language="en", given=True, source="checkout")
    email_enqueue(
        dedupe_key="test:ada",
        to=ADA,
        template="privacy/request_verify",
        context={"kind": "x", "link": "http://x", "hours": 24},
        language="en",
    )
    _order(BOB)
    desk_card(name="Bob", email=BOB)
    consent_record(email=BOB, name="Bob", language="en", given=True, source="checkout")
    return user


def _erasure_request(email: str = ADA) -> SubjectRequest:
    request = request_submit(kind=SubjectRequest.Kind.ERASURE, email=email, language="en")
    return request_verify(token=verification_token(request))


def _state(plan: dict) -> dict:
    """Every row of the plan's declarations, by key (updated_at left out: it moves)."""
    state = {}
    for key, entry in plan.items():
        model = registry.get(key).model
        rows = model._default_manager.filter(pk__in=entry["pks"]).order_by("pk").values()
        state[key] = [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]
    return state


def test_the_preview_is_what_the_erasure_does(ada):
    request = _erasure_request()
    dpo = UserFactory(email="dpo@museum.example", is_staff=True)
    bob_before = (
        list(Order.objects.filter(buyer__email=BOB).values()),
        list(OrderBuyer.objects.filter(email=BOB).values()),
        list(MuseumCard.objects.filter(holder_email=BOB).values()),
        list(NewsletterConsent.objects.filter(email=BOB).values()),
    )
    # given the preview the DPO sees
    preview = erasure_preview(email=request.email, user=request.user)
    planned = {item.key: (item.action, item.count) for item in preview.items}
    tickets = Ticket.objects.filter(order__buyer__email__iexact=ADA).count()
    assert planned["ticketing.order"] == ("anonymise", 3)  # two ticket orders, the card's
    assert planned["ticketing.ticket"] == ("keep", tickets)
    assert planned["accounts.user"] == ("anonymise", 1)
    assert planned["accounts.museumcard"] == ("anonymise", 1)
    assert planned["newsletter.newsletterconsent"] == ("anonymise", 1)
    assert planned["account.emailaddress"] == ("delete", 1)
    assert planned["museum.outboxemail"][0] == "delete"
    # when the DPO approves
    record = erasure_run(request=request, actor=dpo)
    # then exactly the preview's plan was applied, and recorded without personal data
    assert record.plan == preview.plan
    assert record.subject_digest == subject_digest(" ADA@example.org")
    assert ADA not in str(record.plan)
    for key, entry in preview.plan.items():
        declaration = registry.get(key)
        rows = declaration.model._default_manager.filter(pk__in=entry["pks"])
        if entry["action"] == "delete":
            assert not rows.exists(), key
        else:
            plain = {
                k: v
                for k, v in declaration.erasure.fields.items()
                if not hasattr(v, "resolve_expression")
            }
            for row in rows.values(*plain):
                assert row == plain, key
    assert User.objects.get(pk=ada.pk).email == f"erased-{ada.pk}@invalid"
    assert not User.objects.get(pk=ada.pk).has_usable_password()
    card = MuseumCard.objects.get(pk=preview.plan["accounts.museumcard"]["pks"][0])
    assert card.status == MuseumCard.Status.ENDED
    assert card.end_reason == "erasure"
    assert Ticket.objects.filter(order__pk__in=preview.plan["ticketing.order"]["pks"]).count() == (
        tickets
    )
    # nothing of Ada is found any more, but her objection stays so no marketing reaches her
    assert not Order.objects.filter(buyer__email__iexact=ADA).exists()
    assert is_restricted(email=ADA, purpose="marketing") is True
    # she is told, at her address as it was
    done = OutboxEmail.objects.get(dedupe_key=f"privacy.request.erased:{request.public_id}")
    assert done.to == ADA
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
    assert list(request.events.values_list("action", flat=True))[-2:] == [
        "erasure_approved",
        "erased",
    ]
    # and Bob is untouched
    assert bob_before == (
        list(Order.objects.filter(buyer__email=BOB).values()),
        list(OrderBuyer.objects.filter(email=BOB).values()),
        list(MuseumCard.objects.filter(holder_email=BOB).values()),
        list(NewsletterConsent.objects.filter(email=BOB).values()),
    )


def test_only_an_open_erasure_request_erases(ada):
    access = request_verify(
        token=verification_token(request_submit(kind="access", email=ADA, language="en"))
    )
    unverified = request_submit(kind="erasure", email=ADA, language="en")
    for request in (access, unverified):
        with pytest.raises(SubjectRequestError):
            erasure_run(request=request, actor=None)
    assert ErasureRecord.objects.count() == 0
    assert Order.objects.filter(buyer__email__iexact=ADA).count() == 3
    assert ProcessingRestriction.objects.count() == 0


def test_the_replay_repeats_the_erasure_on_a_restored_copy(ada):
    request = _erasure_request()
    preview = erasure_preview(email=ADA)
    before = _state(preview.plan)
    with time_machine.travel(NOON, tick=False):
        record = erasure_run(request=request, actor=None)
    erased = _state(record.plan)
    # given the backup from before the erasure is restored (the rows come back as they were)
    for key, rows in before.items():
        model = registry.get(key).model
        for row in rows:
            model(**row).save()
    assert _state(record.plan) != erased
    assert Order.objects.filter(buyer__email__iexact=ADA).count() == 3
    # when the erasures are replayed
    with time_machine.travel(NOON, tick=False):
        call_command("privacy_replay_erasures", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # then the database is as right after the erasure
    assert _state(record.plan) == erased
    record.refresh_from_db()
    assert record.replayed_at == NOON


def test_an_erasure_is_approved_once(ada):
    request = _erasure_request()
    erasure_run(request=request, actor=None)
    SubjectRequest.objects.filter(pk=request.pk).update(status=SubjectRequest.Status.OPEN)
    with pytest.raises(SubjectRequestError):
        erasure_run(request=request, actor=None)
    assert ErasureRecord.objects.count() == 1
    assert request.events.filter(action="erased").count() == 1
