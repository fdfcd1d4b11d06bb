"""The permission matrix: for every staff group, what it can open in the admin and what not.

The expected table is written out by hand (it is the specification, see
docs/staff-roles.md), never computed from the groups' permissions. Every group gets the
whole table: each list, change and add page of every registered model, the front desk's
and manager's own pages, and the entrance's check-in page.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.models import (
    AccountClosureRequest,
    CardProduct,
    CardPurchase,
    CardVisit,
    MuseumCard,
    User,
)
from museum.audit import audit_record
from museum.models import Closure, OutboxEmail
from newsletter.models import NewsletterConsent
from privacy.models import (
    ErasureRecord,
    ProcessingRestriction,
    PurgeRun,
    RetentionSetting,
    SubjectRequest,
    TrackerSetting,
)
from refunds.models import Campaign, Refund, TransferBatch, Voucher
from tests.staff import staff_user
from tests.ticketing.factories import (
    ExhibitionFactory,
    ResellerFactory,
    SiteFactory,
    TicketTypeFactory,
    TimeSlotFactory,
)
from ticketing.models import Exhibition, Order, Payment, SlotRule, TicketType
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

DESK = "Front desk"
MANAGER = "Manager"
BOOKING = "Booking service"
GUARD = "Guard office"
COMMUNICATION = "Communication"
DPO = "DPO"
GROUPS = [DESK, MANAGER, BOOKING, GUARD, COMMUNICATION, DPO]
NOBODY: frozenset[str] = frozenset()

# model label -> (groups that may see its list and pages, groups that may add one)
MODELS: dict[str, tuple[set[str] | frozenset[str], set[str] | frozenset[str]]] = {
    "museum.site": ({DESK, MANAGER, BOOKING, COMMUNICATION}, {MANAGER}),
    "museum.closure": ({DESK, MANAGER, BOOKING}, {MANAGER}),
    "museum.auditevent": ({MANAGER, DPO}, NOBODY),
    "museum.outboxemail": ({MANAGER, DPO}, NOBODY),
    "ticketing.exhibition": ({DESK, MANAGER, BOOKING, COMMUNICATION}, {MANAGER}),
    "ticketing.tickettype": ({DESK, MANAGER, BOOKING}, {MANAGER}),
    "ticketing.slotrule": ({MANAGER}, {MANAGER}),
    "ticketing.timeslot": ({DESK, MANAGER, BOOKING}, {MANAGER}),
    "ticketing.order": ({DESK, MANAGER, BOOKING, DPO}, NOBODY),
    "ticketing.ticket": ({DESK, MANAGER, BOOKING, GUARD, DPO}, NOBODY),
    "ticketing.payment": ({MANAGER}, NOBODY),
    "ticketing.reseller": ({MANAGER}, {MANAGER}),
    "newsletter.newsletterconsent": ({COMMUNICATION, DPO}, NOBODY),
    "accounts.user": ({DPO}, NOBODY),
    "accounts.accountclosurerequest": ({DPO}, NOBODY),
    "accounts.cardproduct": ({MANAGER}, NOBODY),
    "accounts.museumcard": ({MANAGER, DPO}, NOBODY),
    "accounts.cardpurchase": ({MANAGER}, NOBODY),
    "accounts.cardvisit": ({MANAGER, GUARD, DPO}, NOBODY),
    "privacy.subjectrequest": ({DPO}, NOBODY),
    "privacy.retentionsetting": ({MANAGER, DPO}, {MANAGER, DPO}),
    "privacy.purgerun": ({MANAGER, DPO}, NOBODY),
    "privacy.processingrestriction": ({DPO}, NOBODY),
    "privacy.erasurerecord": ({DPO}, NOBODY),
    "privacy.trackersetting": ({MANAGER}, {MANAGER}),
    "refunds.campaign": ({MANAGER}, {MANAGER}),
    "refunds.refund": ({DESK, MANAGER, BOOKING}, NOBODY),
    "refunds.transferbatch": ({MANAGER}, NOBODY),
    "refunds.voucher": ({DESK, MANAGER, BOOKING}, NOBODY),
    # Not for any group: allauth's and Django's own records, for superusers only.
    "account.emailaddress": (NOBODY, NOBODY),
    "mfa.authenticator": (NOBODY, NOBODY),
    "sites.site": (NOBODY, NOBODY),
    "auth.group": (NOBODY, NOBODY),
}
# The staff's own pages: url name -> groups that may open them
PAGES: dict[str, set[str]] = {
    "admin:index": set(GROUPS),
    "admin:ticketing_timeslot_today": {DESK, MANAGER, BOOKING},
    "admin:ticketing_order_sell": {DESK, MANAGER, BOOKING},
    "admin:ticketing_payment_sales": {MANAGER},
    "ticketing:check_in": {DESK, MANAGER, GUARD},
    "admin:privacy_visit_statistics": {MANAGER},
    "admin:refunds_refund_report": {MANAGER},
    "admin:refunds_transferbatch_export": {MANAGER},
}

# The museum card's own admin pages: (url name, takes the card, groups that may open them)
CARD_PAGES = [
    ("admin:accounts_museumcard_settlement", False, {MANAGER}),
    ("admin:accounts_museumcard_sell", False, {DESK, MANAGER, BOOKING}),
    ("admin:accounts_museumcard_pdf", True, {DESK, MANAGER, BOOKING, DPO}),
]


# The refunds' own pages of one row: (url name, the row's model label, extra args, groups)
REFUND_PAGES = [
    ("admin:refunds_campaign_preview", "refunds.campaign", [], {MANAGER}),
    ("admin:refunds_transferbatch_download", "refunds.transferbatch", [], {MANAGER}),
    ("admin:refunds_refund_action", "refunds.refund", ["approve"], {MANAGER}),
    ("admin:refunds_refund_action", "refunds.refund", ["bank"], {DESK, MANAGER, BOOKING}),
]


def _registered() -> dict[str, type]:
    return {model._meta.label_lower: model for model in admin.site._registry}


@pytest.fixture
def one_of_each():
    """One row of every model that has admin pages, for the change pages: label -> pk."""
    site = SiteFactory()
    exhibition = ExhibitionFactory(site=site)
    adult = TicketTypeFactory(site=site, price_cents=1400)
    slot = TimeSlotFactory(exhibition=exhibition)
    rule = SlotRule.objects.create(exhibition=exhibition, capacity=10)
    reseller = ResellerFactory()
    today = timezone.localdate()
    closure = Closure.objects.create(
        site=site,
        starts_on=today + dt.timedelta(days=200),
        ends_on=today + dt.timedelta(days=201),
        reason="Works",
    )
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        email="visitor@example.org",
        name="Visitor",
        payment_method=Order.PaymentMethod.CASH,
    )
    payment = Payment.objects.create(
        order=order, provider="demo", reference="demo-1", amount_cents=1400, currency="EUR"
    )
    event = audit_record(action="test.seen", subject=order)
    email = OutboxEmail.objects.create(
        dedupe_key="test-1", to="visitor@example.org", language="en", subject="Hi", body_text="."
    )
    consent = NewsletterConsent.objects.create(
        email="visitor@example.org",
        language="en",
        wording="Yes, send me news.",
        wording_version="1",
        source=NewsletterConsent.Source.CHECKOUT,
        recorded_at=timezone.now(),
    )
    visitor = User.objects.create_user("holder@example.org")
    closure_request = AccountClosureRequest.objects.create(user=visitor, email=visitor.email)
    product = CardProduct.objects.create(name="Annual card", price_cents=7900)
    card = MuseumCard.objects.create(
        product=product, holder=visitor, holder_name="Holder", status=MuseumCard.Status.ACTIVE
    )
    purchase = CardPurchase.objects.create(
        order=order,
        card=card,
        kind=CardPurchase.Kind.NEW,
        months=12,
        price_cents=7900,
        vat_rate=Decimal("6.00"),
    )
    visit = CardVisit.objects.create(card=card, site=site, visited_at=timezone.now())
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from django.contrib.sites.models import Site as DjangoSite

    address = EmailAddress.objects.create(user=visitor, email=visitor.email, verified=True)
    authenticator = Authenticator.objects.create(
        user=visitor, type=Authenticator.Type.RECOVERY_CODES, data={}
    )
    return {
        "museum.site": site.pk,
        "museum.closure": closure.pk,
        "museum.auditevent": event.pk,
        "museum.outboxemail": email.pk,
        "ticketing.exhibition": exhibition.pk,
        "ticketing.tickettype": adult.pk,
        "ticketing.slotrule": rule.pk,
        "ticketing.timeslot": slot.pk,
        "ticketing.order": order.pk,
        "ticketing.ticket": order.tickets.get().pk,
        "ticketing.payment": payment.pk,
        "ticketing.reseller": reseller.pk,
        "newsletter.newsletterconsent": consent.pk,
        "accounts.user": visitor.pk,
        "accounts.accountclosurerequest": closure_request.pk,
        "accounts.cardproduct": product.pk,
        "accounts.museumcard": card.pk,
        "accounts.cardpurchase": purchase.pk,
        "accounts.cardvisit": visit.pk,
        "account.emailaddress": address.pk,
        "mfa.authenticator": authenticator.pk,
        "sites.site": DjangoSite.objects.get_current().pk,
        "auth.group": Group.objects.get(name=DESK).pk,
        "privacy.subjectrequest": SubjectRequest.objects.create(kind="access", email="v@x.org").pk,
        "privacy.processingrestriction": ProcessingRestriction.objects.create(
            email="v@x.org", kind=ProcessingRestriction.Kind.MARKETING_OBJECTION
        ).pk,
        "privacy.erasurerecord": ErasureRecord.objects.create(
            performed_at=timezone.now(), subject_digest="0" * 64
        ).pk,
        "privacy.retentionsetting": RetentionSetting.objects.create(
            rule_key="ticketing.order", years=5
        ).pk,
        "privacy.purgerun": PurgeRun.objects.create(
            started_at=timezone.now(), as_of=timezone.now()
        ).pk,
        "privacy.trackersetting": TrackerSetting.objects.create(
            name="Stats", script_url="https://stats.example.net/t.js", purpose="analytics"
        ).pk,
        "refunds.campaign": Campaign.objects.create(
            scope=Campaign.Scope.SITE,
            site=site,
            first_day=today + dt.timedelta(days=300),
            last_day=today + dt.timedelta(days=300),
            reason="Works",
        ).pk,
        "refunds.refund": Refund.objects.create(
            order=order,
            origin=Refund.Origin.REQUEST,
            status=Refund.Status.REQUESTED,
            method=Refund.Method.BANK_TRANSFER,
            paid_cents=1400,
            amount_cents=1400,
        ).pk,
        "refunds.transferbatch": TransferBatch.objects.create(
            message_id="TEST-1", count=0, total_cents=0, execution_date=today, xml="<Document/>"
        ).pk,
        "refunds.voucher": Voucher.objects.create(
            amount_cents=1400, balance_cents=1400, email="visitor@example.org", valid_until=today
        ).pk,
    }


def _matrix(one_of_each: dict[str, int]) -> dict[str, tuple[str, set[str] | frozenset[str]]]:
    """Every page to try: name -> (url, groups that get it). Models without admin are left out."""
    rows: dict[str, tuple[str, set[str] | frozenset[str]]] = {}
    for label in _registered():
        viewers, adders = MODELS[label]
        app, model = label.split(".")
        rows[f"{label} list"] = (reverse(f"admin:{app}_{model}_changelist"), viewers)
        rows[f"{label} page"] = (
            reverse(f"admin:{app}_{model}_change", args=[one_of_each[label]]),
            viewers,
        )
        rows[f"{label} add"] = (reverse(f"admin:{app}_{model}_add"), adders)
    for name, groups in PAGES.items():
        rows[name] = (reverse(name), groups)
    rows["order tickets PDF"] = (
        reverse("admin:ticketing_order_pdf", args=[one_of_each["ticketing.order"]]),
        {DESK, MANAGER, BOOKING, DPO},
    )
    for name, label, extra, groups in REFUND_PAGES:
        if label in _registered():
            rows[f"{name} {' '.join(extra)}"] = (
                reverse(name, args=[one_of_each[label], *extra]),
                groups,
            )
    card = one_of_each["accounts.museumcard"]
    for name, args, groups in CARD_PAGES:
        try:
            rows[name] = (reverse(name, args=[card] if args else None), groups)
        except NoReverseMatch:  # the card's admin pages come with the card's admin
            assert "accounts.museumcard" not in _registered()
    return rows


def test_every_model_in_the_admin_is_in_the_matrix():
    # a new admin page must say which group may use it before it ships
    assert set(_registered()) <= set(MODELS)


@pytest.mark.parametrize("group", GROUPS)
def test_permission_matrix(group, one_of_each):
    # given a staff member of the group (with the second factor staff must have)
    client = Client()
    client.force_login(staff_user(f"{group.lower().replace(' ', '-')}@museum.example", group))
    matrix = _matrix(one_of_each)
    # when they open every page
    answers = {name: client.get(url).status_code for name, (url, _) in matrix.items()}
    # then exactly the pages of their job open; the others are refused
    expected = {name: 200 if group in groups else 403 for name, (_, groups) in matrix.items()}
    assert answers == expected


@pytest.mark.parametrize("group", GROUPS)
def test_admin_home_lists_exactly_the_groups_models(group, one_of_each):
    client = Client()
    client.force_login(staff_user("someone@museum.example", group))
    response = client.get(reverse("admin:index"))
    listed = {
        f"{app['app_label']}.{model['object_name'].lower()}"
        for app in response.context["app_list"]
        for model in app["models"]
    }
    expected = {label for label in _registered() if group in MODELS[label][0]}
    assert listed == expected


def test_staff_without_a_group_open_only_the_admin_home(one_of_each):
    client = Client()
    client.force_login(staff_user("nobody@museum.example"))
    matrix = _matrix(one_of_each)
    answers = {name: client.get(url).status_code for name, (url, _) in matrix.items()}
    assert answers == {name: 200 if name == "admin:index" else 403 for name in matrix}


def _form_data(response) -> dict:
    """The values of an admin change form as a browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = field.widget.format_value(value) if hasattr(value, "pk") else value
    return data


@pytest.mark.parametrize("group", GROUPS)
def test_only_managers_change_a_ticket_price(group, one_of_each):
    # given the ticket type's form as a manager would post it, with a new price
    ticket_type = TicketType.objects.get(pk=one_of_each["ticketing.tickettype"])
    url = reverse("admin:ticketing_tickettype_change", args=[ticket_type.pk])
    manager = Client()
    manager.force_login(staff_user("form@museum.example", MANAGER))
    data = {**_form_data(manager.get(url)), "price_cents": "1"}
    client = Client()
    client.force_login(staff_user("poster@museum.example", group))
    # when a member of the group posts it
    response = client.post(url, data)
    # then only a manager's post changes the price; any other is refused, nothing changed
    ticket_type.refresh_from_db()
    if group == MANAGER:
        assert response.status_code == 302
        assert ticket_type.price_cents == 1
    else:
        assert response.status_code == 403
        assert ticket_type.price_cents == 1400


@pytest.mark.parametrize("group", GROUPS)
def test_only_managers_change_a_museum_card_price(group, one_of_each):
    if CardProduct not in admin.site._registry:
        pytest.skip("the card products have no admin page in this tree")
    product = CardProduct.objects.get(pk=one_of_each["accounts.cardproduct"])
    url = reverse("admin:accounts_cardproduct_change", args=[product.pk])
    manager = Client()
    manager.force_login(staff_user("form@museum.example", MANAGER))
    data = {**_form_data(manager.get(url)), "price_cents": "1"}
    client = Client()
    client.force_login(staff_user("poster@museum.example", group))
    response = client.post(url, data)
    product.refresh_from_db()
    if group == MANAGER:
        assert response.status_code == 302
        assert product.price_cents == 1
    else:
        assert response.status_code == 403
        assert product.price_cents == 7900


def test_communication_changes_an_exhibition_description(one_of_each):
    # given the communication department and an exhibition
    exhibition = Exhibition.objects.get(pk=one_of_each["ticketing.exhibition"])
    client = Client()
    client.force_login(staff_user("comms@museum.example", COMMUNICATION))
    url = reverse("admin:ticketing_exhibition_change", args=[exhibition.pk])
    data = {**_form_data(client.get(url)), "description_en": "Bronzes of the Meuse valley."}
    # when they post a new description
    response = client.post(url, data)
    # then it is saved
    assert response.status_code == 302
    exhibition.refresh_from_db()
    assert exhibition.description_en == "Bronzes of the Meuse valley."


def test_dpo_changes_a_closure_request_status_but_not_an_order(one_of_each):
    client = Client()
    client.force_login(staff_user("dpo@museum.example", DPO))
    order = Order.objects.get(pk=one_of_each["ticketing.order"])
    # an order's page is read-only for the DPO: a post is refused and nothing changes
    response = client.post(
        reverse("admin:ticketing_order_change", args=[order.pk]), {"email": "x@example.org"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.email == "visitor@example.org"
    # the DPO changes closure and subject requests (their console), retention settings,
    # and lifts restrictions (an action; the restriction's page stays read-only), nothing else
    user = User.objects.get(email="dpo@museum.example")
    changes = {perm for perm in user.get_all_permissions() if ".change_" in perm}
    assert changes == {
        "accounts.change_accountclosurerequest",
        "privacy.change_subjectrequest",
        "privacy.change_retentionsetting",
        "privacy.change_processingrestriction",
    }
