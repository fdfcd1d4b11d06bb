"""A cash buyer whose visit the museum cancels gets their money back by bank transfer,
from the e-mailed link, in a real browser: a mistyped IBAN first, then the right one."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from museum.models import OutboxEmail
from refunds.models import Campaign, Choice, Refund
from refunds.services.campaigns import campaign_start
from tests.refunds.core_helpers import visit_slot
from tests.refunds.view_helpers import VALID_IBAN, WRONG_IBAN, cash_order, later_slot, link_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _shot(page, name: str) -> None:
    """Photograph the page into $REFUND_SHOTS_DIR when set, for a look at the layout."""
    folder = os.environ.get("REFUND_SHOTS_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_cash_buyer_gets_a_bank_refund_from_the_emailed_link(page):
    # given a cash sale at the desk for a slot next week, which the museum then cancels
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2, email="grace@example.org")
    later_slot(slot, hour=11), later_slot(slot, hour=15), later_slot(slot, days=2)
    day = timezone.localtime(slot.starts_at).date()
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SLOT,
        site=slot.site,
        exhibition=slot.exhibition,
        time_slot=slot,
        first_day=day,
        last_day=day,
        reason="a burst water pipe",
        default_choice=Choice.REFUND,
    )
    campaign_start(campaign=campaign, actor=None)  # commits: the processing runs eagerly
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.OFFERED
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.offer:{refund.pk}")
    assert email.to == "grace@example.org"

    # when the buyer follows the e-mailed link
    page.goto(link_in(email))
    expect(page.get_by_role("heading", level=1)).to_contain_text(order.code)
    expect(page.get_by_text("a burst water pipe")).to_be_visible()
    expect(page.locator("#rebook-day option")).to_have_count(2)  # two days with room
    expect(page.locator("#choose-rebook input[name=time_slot]")).to_have_count(2)
    _shot(page, "refund-offer")

    # and chooses the refund with a mistyped IBAN
    choice = page.locator("form#choose-refund")
    choice.get_by_label("Account holder").fill("Grace Desk")
    choice.get_by_label("IBAN").fill(WRONG_IBAN)
    choice.get_by_role("button", name="Refund me").click()

    # then the page says what is wrong and keeps the holder's name and the IBAN typed
    choice = page.locator("form#choose-refund")
    expect(choice.locator(".field-error")).to_contain_text("check digits")
    expect(choice.get_by_label("Account holder")).to_have_value("Grace Desk")
    expect(choice.get_by_label("IBAN")).to_have_value(WRONG_IBAN)
    _shot(page, "refund-wrong-iban")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.OFFERED and refund.iban == ""

    # when they correct the IBAN (typed in groups, as printed on a card)
    choice.get_by_label("IBAN").fill("BE68 5390 0754 7034")
    choice.get_by_role("button", name="Refund me").click()

    # then they see the confirmation with only the end of the account shown
    expect(page.locator(".messages")).to_contain_text("Your refund is approved")
    expect(page.locator(".iban-masked")).to_have_text("•••• 7034")
    expect(page.get_by_text("Approved", exact=True)).to_be_visible()
    expect(page.get_by_label("IBAN")).to_have_count(0)
    assert not re.search(r"5390\s*0754", page.content())
    _shot(page, "refund-confirmed")
    refund.refresh_from_db()
    assert refund.status == Refund.Status.APPROVED
    assert (refund.account_holder, refund.iban) == ("Grace Desk", VALID_IBAN)
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.approved:{refund.pk}").exists()


def test_a_buyer_asks_to_cancel_a_ticket_from_the_order_page(page):
    # given a paid order of two tickets next week
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2, email="grace@example.org")
    first = order.tickets.order_by("pk").first()
    # when the buyer opens the order page and asks to cancel one ticket, with a reason
    page.goto(f"/order/{order.access_token}/")
    page.get_by_role("link", name="Ask to cancel").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(order.code)
    expect(page.locator("input[name=tickets]")).to_have_count(2)
    _shot(page, "cancel-request")
    page.locator(f"#ticket-{first.pk}").check()
    page.get_by_label("Why do you cancel? (optional)").fill("We are ill.")
    page.get_by_role("button", name="Ask to cancel").click()
    # then they land on the request's page, which says it waits for the museum's answer
    expect(page.locator(".messages")).to_contain_text("Your request was sent.")
    expect(page.get_by_text("Requested", exact=True)).to_be_visible()
    _shot(page, "cancel-requested")
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.REQUESTED
    assert list(refund.tickets.all()) == [first]
    # and the order page lists the request with a link to it
    page.goto(f"/order/{order.access_token}/")
    expect(page.locator(".order-refunds a")).to_have_attribute(
        "href", f"/refunds/refund/{refund.token}/"
    )
    _shot(page, "order-with-request")
