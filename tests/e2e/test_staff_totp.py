"""A staff member is made to set up TOTP, then signs in with password and a TOTP code."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import User
from accounts.services.staff import SIGN_IN
from museum.models import AuditEvent
from tests.staff import fresh_totp_code

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EMAIL = "desk@museum.example"
PASSWORD = "Tulip-harbour-1874"


def _sign_in_with_password(page) -> None:
    page.locator('input[name="login"]').fill(EMAIL)
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('input[name="password"]').press("Enter")


def test_staff_member_sets_up_totp_and_then_signs_in_with_a_code(page, screenshot):
    # given a front-desk member with a verified e-mail and no second factor yet
    user = User.objects.create_user(EMAIL, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Front desk"))
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)

    # when they open the admin, they are sent to the site's sign-in page
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2F$"))
    _sign_in_with_password(page)

    # then, signed in with their password, they must set up an authenticator app
    # (allauth asks for the password once more before any change to the second factor)
    page.wait_for_url(re.compile(r"/accounts/(reauthenticate|2fa/totp/activate)/"))
    if "/reauthenticate/" in page.url:
        page.locator('input[name="password"]').fill(PASSWORD)
        page.locator('input[name="password"]').press("Enter")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    secret_field = page.locator("#authenticator_secret")
    expect(secret_field).to_be_visible()
    secret = secret_field.input_value()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    expect(page.locator("img[src^='data:image/svg+xml']")).to_be_visible()
    screenshot(page, "staff-totp-activate")

    # when they type the code their app computes from that secret
    page.locator('input[name="code"]').fill(fresh_totp_code(secret))
    page.locator('input[name="code"]').press("Enter")

    # then the authenticator is active and they are shown their recovery codes
    expect(page).to_have_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()

    # when they sign out and come back to the admin
    page.goto(reverse("account_logout"))
    page.locator(f'form[action="{reverse("account_logout")}"] button[type="submit"]').first.click()
    page.wait_for_url(re.compile(r"^(?!.*/logout/).*$"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    _sign_in_with_password(page)

    # then the password alone is not enough: a code is asked for
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.locator('input[name="code"]').fill(fresh_totp_code(secret))
    page.locator('input[name="code"]').press("Enter")

    # and with a fresh code they reach the admin's home, with the front desk's pages
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#front-desk")).to_be_visible()
    screenshot(page, "staff-admin-after-totp")
    sign_ins = AuditEvent.objects.filter(action=SIGN_IN, subject_id=str(user.pk))
    assert [event.data["steps"] for event in sign_ins.order_by("id")] == [
        ["password"],
        ["password", "mfa"],
    ]
