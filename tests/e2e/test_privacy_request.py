"""A guest asks for a copy of their data; the DPO sends it from the console; the link works."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from museum.models import OutboxEmail
from privacy.models import SubjectRequest
from tests.staff import fresh_totp_code, staff_user, totp_activate
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

GUEST = "guest@example.org"
DPO_EMAIL = "dpo@museum.example"
PASSWORD = "Lantern-orchard-1912"


def _path_of(link_in: str, text: str) -> str:
    match = re.search(r"https?://[^/\s]+(" + re.escape(link_in) + r"[^\s]*)", text)
    assert match, text
    return match.group(1)


def test_guest_gets_a_copy_of_their_data_from_the_dpo(page, browser, live_server):
    # given a guest who bought a ticket, and the DPO (password and authenticator app)
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    order = order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=GUEST,
        name="Grace Guest",
    )
    dpo = staff_user(DPO_EMAIL, "DPO", password=PASSWORD, with_totp=False, verified_email=True)
    secret = totp_activate(dpo)

    # when the guest asks for a copy of their data on the privacy pages
    page.goto(reverse("privacy:notice"))
    page.goto(reverse("privacy:request"))
    page.get_by_label(re.compile("a copy of my data")).check()
    page.get_by_label("Your e-mail address").fill(GUEST)
    page.get_by_role("button", name="Send the request").click()
    # then they get the answer every address gets
    expect(page.get_by_role("status")).to_contain_text("If this address is known to us")

    # when they follow the link e-mailed to them
    verify = OutboxEmail.objects.get(to=GUEST, dedupe_key__startswith="privacy.request.verify")
    page.goto(_path_of("/privacy/request/confirm/", verify.body_text))
    # then the request is confirmed, with its deadline
    expect(page.get_by_role("heading", level=1)).to_have_text("Request confirmed")
    request = SubjectRequest.objects.get(email=GUEST)
    assert request.status == SubjectRequest.Status.OPEN

    # when the DPO signs in with password and code and opens the request in the console
    dpo_context = browser.new_context(base_url=live_server.url, locale="en-GB")
    dpo_context.set_default_timeout(15_000)
    console = dpo_context.new_page()
    console.goto("/admin/privacy/subjectrequest/")
    console.locator('input[name="login"]').fill(DPO_EMAIL)
    console.locator('input[name="password"]').fill(PASSWORD)
    console.locator('input[name="password"]').press("Enter")
    expect(console).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    console.locator('input[name="code"]').fill(fresh_totp_code(secret))
    console.locator('input[name="code"]').press("Enter")
    expect(console).to_have_url(re.compile(r"/admin/privacy/subjectrequest/$"))
    console.get_by_role("link", name=re.compile("a copy of my data")).first.click()
    # and sends the copy
    console.get_by_role("button", name="Send the copy").click()
    expect(console.locator(".messagelist")).to_contain_text("The copy is sent")
    dpo_context.close()

    # then the guest's e-mail holds a download link that returns their order as JSON
    copy = OutboxEmail.objects.get(dedupe_key=f"privacy.request.closed:{request.public_id}")
    path = _path_of("/privacy/download/", copy.body_text).replace("format=pdf", "format=json")
    response = page.request.get(path)
    assert response.status == 200
    bundle = json.loads(response.body())
    assert bundle["person"]["emails"] == [GUEST]
    assert [row["code"] for row in bundle["sections"]["ticketing.order"]["rows"]] == [order.code]
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
    assert list(request.events.values_list("action", flat=True)) == [
        "received",
        "verified",
        "copy_sent",
    ]
