"""The access bundle: everything linked to one person, across all apps, and nothing else."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from allauth.account.models import EmailAddress, EmailConfirmation
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import CardVisit, MuseumCard
from accounts.services.cards import CardGift, card_order_place
from accounts.services.staff import SIGN_IN, staff_sign_in_record
from accounts.services.users import closure_request_open
from museum.models import OutboxEmail
from newsletter.services import consent_record
from privacy.consent import consent_give
from privacy.models import (
    ProcessingRestriction,
    PurgeRun,
    RetentionSetting,
    SubjectRequest,
    SubjectRequestEvent,
)
from privacy.registry import registry
from privacy.services import access_bundle
from tests.accounts.card_factories import CardProductFactory, desk_card
from tests.accounts.factories import UserFactory
from tests.staff import totp_activate
from tests.ticketing.factories import ResellerFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import ApiIdempotencyKey, Order, Payment, Ticket, WebhookEvent
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ADA = "ada@example.org"
BOB = "bob@example.org"


def _desk_order(*, email: str, name: str, user=None, created_by=None, slot=None) -> Order:
    slot = slot or TimeSlotFactory(capacity=50)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 2)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name=name,
        created_by=created_by,
    )
    if user is not None:
        Order.objects.filter(pk=order.pk).update(user=user)
    return order


@pytest.fixture
def spread(client, django_capture_on_commit_callbacks):
    """Ada, spread over every app: guest and account orders, a payment and its provider
    event, a reseller order and its stored API answer, cards (her own, with visits, and
    one she gave), consents, e-mails, a closure request; and, as she also works at the
    desk, her staff records (sales, admissions, sign-ins, second factor, admin changes, a
    session). Bob is another visitor whose ticket she admitted."""
    with django_capture_on_commit_callbacks(execute=True):
        ada = UserFactory(
            email=ADA,
            first_name="Ada",
            last_name="Lovelace",
            phone="+32 2 555 01 01",
            postal_address="Rue de la Loi 1, Brussels",
            year_of_birth=1990,
            is_staff=True,
        )
        ada.last_login = timezone.now()
        ada.save(update_fields=["last_login"])
        guest = _desk_order(email="Ada@Example.org", name="Ada L.")
        account_order = _desk_order(email=ADA, name="Ada Lovelace", user=ada)
        Payment.objects.create(
            order=account_order,
            provider="stripe",
            reference="cs_test_ada",
            payment_intent="pi_ada",
            amount_cents=2800,
            currency="EUR",
            status=Payment.Status.SUCCEEDED,
            refund_reference="re_ada",
        )
        WebhookEvent.objects.create(
            provider="stripe",
            event_id="evt_ada",
            event_type="checkout.session.completed",
            payment_intent="pi_ada",
            outcome="paid",
        )
        reseller = ResellerFactory(contact_email=ADA)  # she is also a partner's contact
        slot = TimeSlotFactory(capacity=50)
        adult = TicketTypeFactory(site=slot.site)
        resold = order_place(
            lines=[OrderLine(slot.pk, adult.pk, 1)],
            channel=Order.Channel.RESELLER,
            payment_method=Order.PaymentMethod.INVOICE,
            email=ADA,
            reseller=reseller,
            reseller_reference="R-77",
        )
        ApiIdempotencyKey.objects.create(
            reseller=reseller,
            key="k-1",
            request_hash="0" * 64,
            response_status=201,
            response_body={"code": resold.code, "reference": "R-77"},
        )
        Ticket.objects.filter(order=guest).update(
            checked_in_at=timezone.now(), checked_in_gate="North"
        )
        card = desk_card(name="Ada Lovelace", email=ADA)
        MuseumCard.objects.filter(pk=card.pk).update(holder=ada)
        CardVisit.objects.create(
            card=card, site=slot.site, visited_at=timezone.now(), gate="Main", checked_in_by=ada
        )
        card_order_place(
            product=CardProductFactory(),
            holder_name="Ada Lovelace",
            holder_email=ADA,
            language="en",
            channel=Order.Channel.DESK,
            payment_method=Order.PaymentMethod.CASH,
            gift=CardGift(recipient_email="grace@example.org", greeting="Happy birthday!"),
        )
        consent_record(email=ADA, name="Ada", language="en", given=True, source="checkout")
        consent_give(purpose="marketing", channel="account", language="en", user=ada)
        closure_request_open(user=ada, reason="Moving abroad")
        EmailConfirmation.create(EmailAddress.objects.get(user=ada))
        totp_activate(ada)
        staff_sign_in_record(action=SIGN_IN, user=ada, client="192.0.2.7")
        # Her staff work: a sale at the desk, and Bob's ticket admitted by her.
        bobs = _desk_order(email=BOB, name="Bob Example", created_by=ada)
        Ticket.objects.filter(order=bobs).update(checked_in_at=timezone.now(), checked_in_by=ada)
        LogEntry.objects.create(
            user=ada,
            content_type=ContentType.objects.get_for_model(Order),
            object_id=str(guest.pk),
            object_repr=guest.code,
            action_flag=CHANGE,
            change_message="[]",
        )
        # Her own request under the GDPR, which she also handles as a DPO, and its traces.
        request = SubjectRequest.objects.create(
            kind=SubjectRequest.Kind.ACCESS, email=ADA, user=ada, message="All of it", assignee=ada
        )
        SubjectRequestEvent.objects.create(
            request=request, at=timezone.now(), actor=ada, action="note", note="Checked"
        )
        ProcessingRestriction.objects.create(
            email=ADA, user=ada, kind=ProcessingRestriction.Kind.MARKETING_OBJECTION
        )
        PurgeRun.objects.create(
            started_at=timezone.now(), as_of=timezone.now(), dry_run=True, triggered_by=ada
        )
        RetentionSetting.objects.create(rule_key="ticketing.order", years=5, updated_by=ada)
        # Refunds: her desk order's bank refund, in a transfer file she exported, a
        # voucher, her card extended by a closure she created, her resold order's
        # cancellation reported to the reseller.
        from refunds.models import CampaignOrder, CardExtension, Refund, ResellerNotice
        from refunds.services.transfers import transfer_batch_export
        from tests.refunds.factories import CampaignFactory, RefundFactory, VoucherFactory

        campaign = CampaignFactory(created_by=ada, site=slot.site)
        CampaignOrder.objects.create(campaign=campaign, order=guest)
        RefundFactory(
            order=guest,
            campaign=campaign,
            origin=Refund.Origin.CAMPAIGN,
            staff_reason="Closed for repairs",
            decided_by=ada,
        )
        transfer_batch_export(actor=ada)
        VoucherFactory(email=ADA)
        CardExtension.objects.create(
            campaign=campaign,
            card=card,
            days=2,
            valid_until_before=dt.date(2026, 12, 31),
            valid_until_after=dt.date(2027, 1, 2),
        )
        ResellerNotice.objects.create(
            reseller=reseller,
            order=resold,
            campaign=campaign,
            kind=ResellerNotice.Kind.ORDER_CANCELLED,
            dedupe_key=f"order.cancelled:{resold.code}",
            payload={"code": resold.code, "reference": "R-77"},
        )
    client.force_login(ada)  # a signed-in session
    return {"ada": ada, "orders": [guest, account_order, resold], "bobs": bobs, "card": card}


def test_bundle_holds_every_declared_field_of_every_declaration(spread):
    # given Ada's data in every app

    # when her bundle is built, by her address and account
    bundle = access_bundle(email=ADA, user=spread["ada"])

    # then every declaration has rows, and each row holds each declared field
    sections = bundle["sections"]
    assert sorted(sections) == sorted(d.key for d in registry.declarations)
    missing = []
    for declaration in registry.declarations:
        section = sections[declaration.key]
        withheld = section.get("withheld", {})
        for row in section["rows"]:
            missing += [
                f"{declaration.key}.{name}"
                for name in declaration.fields
                if name not in row and name not in withheld
            ]
    assert missing == []
    # and a withheld field says why, and never shows
    assert set(sections["accounts.user"]["withheld"]) == {"password"}
    assert "password" not in sections["accounts.user"]["rows"][0]
    assert set(sections["mfa.authenticator"]["withheld"]) == {"data"}
    # and it is plain JSON
    json.dumps(bundle)


def test_bundle_rows_are_the_persons_and_say_why_they_are_held(spread):
    bundle = access_bundle(email=ADA, user=spread["ada"])
    sections = bundle["sections"]

    # the guest order (another case of her address) and the account's, not Bob's
    codes = {row["code"] for row in sections["ticketing.order"]["rows"]}
    assert codes == {order.code for order in spread["orders"]} | {
        o.code for o in Order.objects.filter(buyer__email=ADA, site__isnull=True)
    }
    assert spread["bobs"].code not in codes
    profile = sections["accounts.user"]["rows"][0]
    assert (profile["email"], profile["phone"], profile["year_of_birth"]) == (
        ADA,
        "+32 2 555 01 01",
        1990,
    )
    order_section = sections["ticketing.order"]
    assert order_section["purpose"] == "Selling and delivering tickets"
    assert order_section["legal_basis"] == "Performance of a contract (Art. 6(1)(b) GDPR)"
    assert "Stripe (online card payments)" in order_section["recipients"]
    assert order_section["retention"] == (
        "5 years after the end of the calendar year of your last transaction"
    )
    # the card she holds and the one she gave, each in its own section
    assert [r["number"] for r in sections["accounts.museumcard"]["rows"]] == [spread["card"].number]
    [gift] = sections["accounts.museumcard:gift_buyer"]["rows"]
    assert (gift["gift_recipient_email"], gift["gift_greeting"]) == (
        "grace@example.org",
        "Happy birthday!",
    )
    # the e-mails sent to her, the audit events about her orders, her session's data
    assert {r["to"] for r in sections["museum.outboxemail"]["rows"]} == {ADA}
    assert len(sections["museum.outboxemail"]["rows"]) == OutboxEmail.objects.filter(to=ADA).count()
    audited = {(r["subject_type"], r["subject_id"]) for r in sections["museum.auditevent"]["rows"]}
    assert ("ticketing.order", str(spread["orders"][0].pk)) in audited
    [session] = sections["sessions.session"]["rows"]
    assert session["session_data"]["_auth_user_id"] == str(spread["ada"].pk)
    assert "_auth_user_hash" not in session["session_data"]


def test_bundle_holds_nothing_of_anyone_else(spread):
    # given Bob, whose order Ada's staff records point to
    # when Ada's bundle is built
    text = json.dumps(access_bundle(email=ADA, user=spread["ada"]))

    # then Bob's name, address and order code appear nowhere
    assert BOB not in text
    assert "Bob Example" not in text
    assert spread["bobs"].code not in text
    # and her admission of Bob's ticket shows only her own work record
    bundle = access_bundle(email=ADA, user=spread["ada"])
    admissions = bundle["sections"]["ticketing.ticket:checked_in_by"]["rows"]
    assert len(admissions) == 2  # Bob's two tickets
    assert all(
        set(row) == {"pk", "checked_in_by", "checked_in_at", "checked_in_gate"}
        for row in admissions
    )


def test_a_guest_gets_the_rows_of_the_address_only(spread):
    # given only Ada's address, as a guest asking without signing in
    bundle = access_bundle(email="ADA@example.org")

    # then the rows linked by the address come, the account-only ones do not
    sections = bundle["sections"]
    assert bundle["person"] == {"emails": [ADA], "account": None}
    assert "ticketing.order" in sections and "newsletter.newsletterconsent" in sections
    assert "sessions.session" not in sections
    assert "mfa.authenticator" not in sections
    assert "ticketing.ticket:checked_in_by" not in sections


def test_an_unknown_address_gets_an_empty_bundle(spread):
    bundle = access_bundle(email="nobody@example.org")

    assert bundle["sections"] == {}
    assert bundle["person"] == {"emails": ["nobody@example.org"], "account": None}


def test_the_number_of_queries_does_not_grow_with_the_rows(spread):
    # given Ada's bundle built once (caches warm)
    ada = spread["ada"]
    access_bundle(email=ADA, user=ada)
    with CaptureQueriesContext(connection) as before:
        access_bundle(email=ADA, user=ada)

    # when she has five more orders with tickets
    slot = TimeSlotFactory(capacity=50)
    for _ in range(5):
        _desk_order(email=ADA, name="Ada", user=ada, slot=slot)
    with CaptureQueriesContext(connection) as after:
        bundle = access_bundle(email=ADA, user=ada)

    # then the bundle has the new rows and costs the same queries: one per declaration,
    # the session lookup's second one and the keys of its rows (a custom export), and the
    # savepoint, SET LOCAL and release of the lookups' transaction
    assert len(bundle["sections"]["ticketing.ticket"]["rows"]) == 2 * 2 + 1 + 5 * 2
    assert len(after.captured_queries) == len(before.captured_queries)
    assert len(after.captured_queries) == len(registry.declarations) + 2 + 3


def test_times_are_local_iso_strings(spread):
    now = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)

    bundle = access_bundle(email=ADA, user=spread["ada"], now=now)

    assert bundle["generated_at"] == "2026-03-01T10:30:00+01:00"
    profile = bundle["sections"]["accounts.user"]["rows"][0]
    assert dt.datetime.fromisoformat(profile["date_joined"]).utcoffset() is not None
