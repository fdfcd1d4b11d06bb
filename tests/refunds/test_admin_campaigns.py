"""The admin of cancellation campaigns: the add form, the preview, running it, progress."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from museum.models import AuditEvent
from refunds.models import Campaign, CampaignOrder, Choice, Refund
from tests.refunds.factories import CampaignFactory
from tests.staff import staff_user
from tests.ticketing.factories import ExhibitionFactory, TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Payment, Ticket, TimeSlot

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _client(email: str, group: str) -> Client:
    client = Client()
    client.force_login(staff_user(email, group))
    return client


@pytest.fixture
def manager() -> Client:
    return _client("manager@museum.example", "Manager")


@pytest.fixture
def desk() -> Client:
    return _client("desk@museum.example", "Front desk")


@pytest.fixture
def slot() -> TimeSlot:
    day = timezone.localdate() + dt.timedelta(days=7)
    starts = dt.datetime.combine(day, dt.time(10), tzinfo=timezone.get_current_timezone())
    return TimeSlotFactory(starts_at=starts, ends_at=starts + dt.timedelta(minutes=30))


def _order(slot: TimeSlot, *, tickets: int, price: int, email: str, **fields) -> Order:
    adult = TicketTypeFactory(site=slot.site, price_cents=price)
    order = Order.objects.create(
        site=slot.site,
        status=Order.Status.PAID,
        channel=fields.pop("channel", Order.Channel.DESK),
        payment_method=fields.pop("payment_method", Order.PaymentMethod.CASH),
        email=email,
        name="Ada Lovelace",
        total_cents=price * tickets,
        paid_at=timezone.now(),
        **fields,
    )
    for _ in range(tickets):
        Ticket.objects.create(
            order=order,
            time_slot=slot,
            ticket_type=adult,
            price_cents=price,
            vat_rate=adult.vat_rate,
            status=Ticket.Status.VALID,
        )
    return order


@pytest.fixture
def affected(slot):
    """Three paid orders in the slot: cash at the desk (2 × 14), a demo card payment on the
    web (1 × 20) and a desk order without an e-mail address (3 × 10)."""
    cash = _order(slot, tickets=2, price=1400, email="cash@example.org")
    web = _order(
        slot,
        tickets=1,
        price=2000,
        email="web@example.org",
        channel=Order.Channel.WEB,
        payment_method=Order.PaymentMethod.DEMO,
    )
    Payment.objects.create(
        order=web,
        provider="demo",
        reference="demo-web",
        amount_cents=2000,
        currency="EUR",
        status=Payment.Status.SUCCEEDED,
    )
    silent = _order(slot, tickets=3, price=1000, email="")
    return cash, web, silent


def _slot_campaign(slot: TimeSlot, **fields) -> Campaign:
    day = timezone.localdate(slot.starts_at)
    return CampaignFactory(
        scope=Campaign.Scope.SLOT,
        site=slot.site,
        exhibition=slot.exhibition,
        time_slot=slot,
        first_day=day,
        last_day=day,
        **fields,
    )


# --- Add form ----------------------------------------------------------------------------


def _add_data(slot: TimeSlot, **changes) -> dict:
    data = {
        "scope": "slot",
        "site": slot.site_id,
        "exhibition": "",
        "time_slot": slot.pk,
        "first_day": "",
        "last_day": "",
        "reason": "a burst water pipe",
        "default_choice": Choice.REFUND,
        "answer_days": "14",
    }
    return {**data, **changes}


def test_manager_adds_a_slot_campaign_and_lands_on_its_preview(manager, slot):
    response = manager.post(reverse("admin:refunds_campaign_add"), _add_data(slot))
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:refunds_campaign_preview", args=[campaign.pk])
    # the slot's day fills the empty dates
    day = timezone.localdate(slot.starts_at)
    assert (campaign.first_day, campaign.last_day) == (day, day)
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.created_by.email == "manager@museum.example"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"time_slot": ""}, "time_slot", "Choose the time slot that is cancelled."),
        (
            {"scope": "day", "time_slot": "", "first_day": "2099-01-05", "last_day": "2099-01-05"},
            "exhibition",
            "Choose the exhibition that is cancelled.",
        ),
        (
            {"scope": "site", "time_slot": "", "first_day": "2099-01-06", "last_day": "2099-01-05"},
            "last_day",
            "The last day is before the first day.",
        ),
        (
            {"scope": "site", "time_slot": "", "first_day": "2001-01-05", "last_day": "2001-01-05"},
            "first_day",
            "The first day is in the past.",
        ),
    ],
)
def test_add_form_refuses_an_incomplete_campaign(manager, slot, changes, field, message):
    response = manager.post(reverse("admin:refunds_campaign_add"), _add_data(slot, **changes))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not Campaign.objects.exists()


def test_add_form_refuses_a_slot_of_another_site(manager, slot):
    elsewhere = ExhibitionFactory()
    response = manager.post(
        reverse("admin:refunds_campaign_add"), _add_data(slot, site=elsewhere.site_id)
    )
    assert response.context["adminform"].form.errors["time_slot"] == [
        "This time slot is not at the chosen site."
    ]
    assert not Campaign.objects.exists()


def test_add_form_refuses_an_exhibition_of_another_site(manager, slot):
    elsewhere = ExhibitionFactory()
    response = manager.post(
        reverse("admin:refunds_campaign_add"),
        _add_data(
            slot,
            scope="exhibition",
            time_slot="",
            exhibition=elsewhere.pk,
            first_day="2099-01-05",
            last_day="2099-01-09",
        ),
    )
    assert response.context["adminform"].form.errors["exhibition"] == [
        "This exhibition is not at the chosen site."
    ]
    assert not Campaign.objects.exists()


# --- Preview -------------------------------------------------------------------------------


def test_preview_counts_the_affected_orders(manager, slot, affected):
    campaign = _slot_campaign(slot)
    response = manager.get(reverse("admin:refunds_campaign_preview", args=[campaign.pk]))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.orders, preview.tickets, preview.seats) == (3, 6, 6)
    assert preview.amount_cents == 2 * 1400 + 2000 + 3 * 1000
    assert (preview.emails, preview.without_email) == (2, 1)
    assert preview.slots == 1
    assert dict(response.context["by_channel"]) == {
        "front desk": {"orders": 2, "amount_cents": 5800},
        "web shop": {"orders": 1, "amount_cents": 2000},
    }
    assert dict(response.context["by_method"]) == {
        "bank transfer": {"orders": 2, "amount_cents": 5800},
        "demo provider (no money moves)": {"orders": 1, "amount_cents": 2000},
    }
    assert sorted(row["code"] for row in response.context["sample"]) == sorted(
        o.code for o in affected
    )
    assert b"Run the cancellation" in response.content
    # a preview changes nothing
    assert not CampaignOrder.objects.exists()
    assert not TimeSlot.objects.get(pk=slot.pk).is_cancelled


def test_desk_cannot_open_a_preview_nor_run_a_campaign(desk, slot, affected):
    campaign = _slot_campaign(slot)
    assert (
        desk.get(reverse("admin:refunds_campaign_preview", args=[campaign.pk])).status_code == 403
    )
    response = desk.post(reverse("admin:refunds_campaign_run", args=[campaign.pk]))
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not CampaignOrder.objects.exists()
    assert not Refund.objects.exists()


def test_viewing_without_run_permission_shows_no_run_button_and_cannot_run(slot, affected):
    # given a manager-like user who may see campaigns but not run them
    from django.contrib.auth.models import Permission

    user = staff_user("viewer@museum.example")
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client = Client()
    client.force_login(user)
    campaign = _slot_campaign(slot)
    response = client.get(reverse("admin:refunds_campaign_preview", args=[campaign.pk]))
    assert response.status_code == 200
    assert b"Run the cancellation" not in response.content
    assert client.post(reverse("admin:refunds_campaign_run", args=[campaign.pk])).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


# --- Run and progress --------------------------------------------------------------------------


def test_run_then_progress_shows_the_campaign_done(
    manager, slot, affected, django_capture_on_commit_callbacks
):
    campaign = _slot_campaign(slot)
    # when the manager runs it (the worker runs the queued task at once)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(reverse("admin:refunds_campaign_run", args=[campaign.pk]))
    # then the sale stopped, every order got its offer and the progress page says done
    assert response.status_code == 302
    assert response.url == reverse("admin:refunds_campaign_progress", args=[campaign.pk])
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert TimeSlot.objects.get(pk=slot.pk).is_cancelled
    assert Refund.objects.filter(campaign=campaign, status=Refund.Status.OFFERED).count() == 3
    assert AuditEvent.objects.filter(
        action="campaign.started", subject_id=str(campaign.pk)
    ).exists()
    page = manager.get(response.url)
    assert page.status_code == 200
    assert page.context["progress"] == {
        "total": 3,
        "done": 3,
        "failed": 0,
        "pending": 0,
        "percent": 100,
        "status": "done",
        "status_label": "done",
        "finished": True,
    }
    assert page.context["bar"] == {"done": 600, "failed": 0}
    assert b'http-equiv="refresh"' not in page.content  # finished: no more refreshing
    # and the campaign's page reports its totals
    change = manager.get(reverse("admin:refunds_campaign_change", args=[campaign.pk]))
    totals = change.context["totals"]
    assert totals["refunds"] == 3
    assert {row["label"]: (row["n"], row["amount"]) for row in totals["by_status"]} == {
        "offered, awaiting the buyer": (3, 7800)
    }
    assert (totals["vouchers"], totals["rebooked"], totals["cards_extended"]) == (0, 0, 0)


def test_progress_page_of_a_running_campaign_refreshes_itself(manager, slot, affected):
    campaign = _slot_campaign(slot)
    from refunds.services.campaigns import campaign_start

    campaign_start(campaign=campaign, actor=None)  # queued; no worker has run yet
    response = manager.get(reverse("admin:refunds_campaign_progress", args=[campaign.pk]))
    assert response.context["progress"]["pending"] == 3
    assert response.context["progress"]["percent"] == 0
    assert b'http-equiv="refresh"' in response.content


def test_running_twice_is_refused_with_a_message(manager, slot, affected):
    campaign = _slot_campaign(slot)
    from refunds.services.campaigns import campaign_start

    campaign_start(campaign=campaign, actor=None)
    response = manager.post(reverse("admin:refunds_campaign_run", args=[campaign.pk]), follow=True)
    assert "This campaign was already started." in _messages(response)
    assert CampaignOrder.objects.filter(campaign=campaign).count() == 3


def test_failed_orders_are_listed_and_retried(
    manager, slot, affected, monkeypatch, django_capture_on_commit_callbacks
):
    # given a run where one order fails
    campaign = _slot_campaign(slot)
    cash = affected[0]
    from refunds.services import campaigns

    real = campaigns._process_order

    def flaky(campaign, *, order_id, slot_ids, now):
        if order_id == cash.pk:
            raise RuntimeError("mail server down")
        return real(campaign, order_id=order_id, slot_ids=slot_ids, now=now)

    def bulk_breaks(*args, **kwargs):
        raise RuntimeError("chunk statement failed")

    # the chunk's set-based path fails, then that order fails on its own as well
    monkeypatch.setattr(campaigns, "_offer_in_bulk", bulk_breaks)
    monkeypatch.setattr(campaigns, "_process_order", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        manager.post(reverse("admin:refunds_campaign_run", args=[campaign.pk]))
    page = manager.get(reverse("admin:refunds_campaign_progress", args=[campaign.pk]))
    assert page.context["progress"]["failed"] == 1
    assert [(e.order.code, e.error) for e in page.context["failed"]] == [
        (cash.code, "RuntimeError: mail server down")
    ]
    assert b"Retry failed orders" in page.content
    # when the manager retries once the cause is gone
    monkeypatch.setattr(campaigns, "_process_order", real)
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            reverse("admin:refunds_campaign_retry", args=[campaign.pk]), follow=True
        )
    # then the order is done and the campaign with it
    assert "1 failed order is tried again." in _messages(response)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DONE
    assert Refund.objects.filter(campaign=campaign, order=cash).exists()


def test_desk_cannot_retry_failed_orders(desk, slot, affected):
    campaign = _slot_campaign(slot)
    from refunds.services.campaigns import campaign_start

    campaign_start(campaign=campaign, actor=None)
    CampaignOrder.objects.filter(campaign=campaign).update(
        status=CampaignOrder.Status.FAILED, error="boom"
    )
    response = desk.post(reverse("admin:refunds_campaign_retry", args=[campaign.pk]))
    assert response.status_code == 403
    assert CampaignOrder.objects.filter(status=CampaignOrder.Status.FAILED).count() == 3


def test_a_started_campaign_is_read_only(manager, slot, affected):
    campaign = _slot_campaign(slot)
    from refunds.services.campaigns import campaign_start

    campaign_start(campaign=campaign, actor=None)
    url = reverse("admin:refunds_campaign_change", args=[campaign.pk])
    response = manager.post(url, _add_data(slot, reason="changed"))
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.reason == "a burst water pipe"
