"""A guest buys, then signs up with the same address, verifies it and finds the order."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from museum.models import OutboxEmail
from ticketing.models import Order, TimeSlot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EXHIBITION_SLUG = "golden-age-tapestries"
EMAIL = "grace@visitor.example"
PASSWORD = "Museum-Visit-2026!"


def _checkout_path_of_tomorrows_first_slot() -> str:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    slot = (
        TimeSlot.objects.filter(exhibition__slug=EXHIBITION_SLUG, starts_at__date__gte=tomorrow)
        .order_by("starts_at")
        .first()
    )
    starts_at = timezone.localtime(slot.starts_at)
    return reverse(
        "ticketing:checkout",
        kwargs={
            "slug": EXHIBITION_SLUG,
            "day": f"{starts_at:%Y-%m-%d}",
            "hhmm": f"{starts_at:%H%M}",
        },
    )


def test_guest_order_appears_in_my_account_after_sign_up_and_verification(
    page, demo_museum, screenshot
):
    # given a guest who bought a ticket with the demo provider
    page.goto(_checkout_path_of_tomorrows_first_slot())
    page.get_by_label("Adult", exact=True).fill("1")
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Pay (demo — no money moves)").click()
    page.get_by_role("button", name="Pay (demo — no money moves)").click()
    expect(page.locator(".notice.ok")).to_contain_text("Thank you")
    order = Order.objects.get(buyer__email=EMAIL)
    assert order.status == Order.Status.PAID
    assert order.user is None

    # when the guest signs up with the same address
    page.get_by_role("link", name="Sign in").click()
    page.locator("main").get_by_role("link", name="sign up").click()
    page.locator("#id_email").fill(EMAIL)
    page.locator("#id_password1").fill(PASSWORD)
    page.locator("#id_password2").fill(PASSWORD)
    screenshot(page, "signup")
    page.get_by_role("button", name="Sign Up").click()

    # then the verification page says an e-mail was sent, and nothing is attached yet
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
    screenshot(page, "signup-verification-sent")
    user = User.objects.get(email=EMAIL)
    order.refresh_from_db()
    assert order.user is None

    # when the link of the verification e-mail (from the outbox) is opened in a new session
    verification = OutboxEmail.objects.get(to=EMAIL, dedupe_key__startswith="allauth:")
    assert verification.status == OutboxEmail.Status.SENT
    link = re.search(r"https?://\S+(/accounts/confirm-email/\S+/)", verification.body_text)
    page.context.clear_cookies()
    page.goto(link.group(1))
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Email Address")
    page.locator("main").get_by_role("button", name="Confirm").click()

    # and the visitor signs in
    page.get_by_label("Email").fill(EMAIL)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("main").get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("link", name="My account")).to_be_visible()

    # then My account lists the order bought earlier as a guest, linked to its page
    page.get_by_role("link", name="My account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.locator(".orders")).to_contain_text(order.code)
    screenshot(page, "my-account")
    page.get_by_role("link", name="All my orders and tickets").click()
    expect(page.locator(".orders")).to_contain_text("Adult")
    page.get_by_role("link", name=order.code).click()
    expect(page.locator(".notice.ok")).to_contain_text(EMAIL)
    assert page.url.endswith(f"/order/{order.access_token}/")
    order.refresh_from_db()
    assert order.user == user
