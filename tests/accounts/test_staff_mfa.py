"""Staff sign in through allauth with a second factor; sign-ins are rate-limited and audited."""

from __future__ import annotations

import json
import re

import pytest
from allauth.account import app_settings as account_settings
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.services.staff import (
    SECOND_FACTOR_ADDED,
    SECOND_FACTOR_FAILED,
    SIGN_IN,
    SIGN_IN_FAILED,
    staff_sign_in_record,
)
from museum.models import AuditEvent
from tests.staff import fresh_totp_code, staff_user, totp_activate, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "Tulip-harbour-1874"
ACTIVATE = "/accounts/2fa/totp/activate/"


def _sign_in(client: Client, email: str, password: str = PASSWORD, next_url: str = "/admin/"):
    return client.post(
        f"{reverse('account_login')}?next={next_url}", {"login": email, "password": password}
    )


def _activation_secret(client: Client) -> str:
    """Open the TOTP activation page as allauth asks: the password again, then the page."""
    page = client.get(ACTIVATE)
    if page.status_code == 302:
        # allauth asks for the password again before any change to the second factor
        assert page["Location"].startswith(reverse("account_reauthenticate"))
        confirmed = client.post(page["Location"], {"password": PASSWORD})
        assert (confirmed.status_code, confirmed["Location"]) == (302, ACTIVATE)
        page = client.get(ACTIVATE)
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret in page.content.decode()
    return secret


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _login_failed_limit_per_address() -> int:
    """The N of allauth's "N failed sign-ins per address" limit, as configured."""
    rates = account_settings.RATE_LIMITS["login_failed"].split(",")
    [per_key] = [rate for rate in rates if rate.endswith("/key")]
    return int(per_key.split("/")[0])


# --- The second factor is required ---------------------------------------------------


def test_staff_without_totp_is_sent_from_the_admin_to_the_activation_page():
    # given a signed-in staff member with no authenticator app
    user = staff_user("desk@museum.example", "Front desk", with_totp=False)
    client = Client()
    client.force_login(user)
    # when they open the admin index and an admin list
    index = client.get("/admin/")
    orders = client.get(reverse("admin:ticketing_order_changelist"))
    # then both send them to set up TOTP, saying why
    assert reverse("mfa_activate_totp") == ACTIVATE
    assert (index.status_code, index["Location"]) == (302, ACTIVATE)
    assert (orders.status_code, orders["Location"]) == (302, ACTIVATE)
    assert any("second factor" in message for message in _messages(orders))
    assert not Authenticator.objects.filter(user=user).exists()


def test_staff_without_totp_cannot_use_the_check_in_page():
    user = staff_user("guard@museum.example", "Guard office", with_totp=False)
    client = Client()
    client.force_login(user)
    response = client.get(reverse("ticketing:check_in"))
    assert (response.status_code, response["Location"]) == (302, ACTIVATE)
    response = client.post(reverse("ticketing:check_in"), {"code": "anything", "gate": "A"})
    assert (response.status_code, response["Location"]) == (302, ACTIVATE)


def test_a_group_member_without_is_staff_also_needs_totp_for_the_check_in_page():
    # given a guard who is in the guard group but not marked staff
    user = User.objects.create_user("guard@museum.example", password=PASSWORD)
    user.groups.add(Group.objects.get(name="Guard office"))
    client = Client()
    client.force_login(user)
    # when they open the check-in page, they are sent to set up TOTP
    response = client.get(reverse("ticketing:check_in"))
    assert (response.status_code, response["Location"]) == (302, ACTIVATE)
    # and with an authenticator app, the page opens
    totp_activate(user)
    assert client.get(reverse("ticketing:check_in")).status_code == 200


def test_staff_with_totp_work_in_the_admin_and_at_the_check_in_page():
    user = staff_user("desk@museum.example", "Front desk")
    client = Client()
    client.force_login(user)
    assert client.get("/admin/").status_code == 200
    assert client.get(reverse("admin:ticketing_order_changelist")).status_code == 200
    assert client.get(reverse("ticketing:check_in")).status_code == 200


def test_a_visitor_is_not_asked_for_a_second_factor():
    # given a signed-in visitor
    visitor = User.objects.create_user("ada@example.org", password=PASSWORD)
    client = Client()
    client.force_login(visitor)
    # then the shop works, the admin refuses them and nothing sends them to TOTP set-up
    assert client.get("/").status_code == 200
    admin = client.get("/admin/", follow=True)
    assert admin.status_code == 403
    assert [url for url, _ in admin.redirect_chain] == ["/admin/login/?next=/admin/"]
    assert client.get(reverse("ticketing:check_in")).status_code == 403


def test_without_totp_the_activation_page_and_signing_out_stay_reachable():
    # given a staff member who signed in with their password only
    user = staff_user(
        "desk@museum.example",
        "Front desk",
        password=PASSWORD,
        with_totp=False,
        verified_email=True,
    )
    client = Client()
    signed_in = _sign_in(client, user.email)
    assert (signed_in.status_code, signed_in["Location"]) == (302, "/admin/")
    # when they are sent from the admin to the activation page
    assert client.get("/admin/")["Location"] == ACTIVATE
    # then it opens (after their password once more) and shows the secret for their app
    assert len(_activation_secret(client)) == 32
    # and signing out works
    signed_out = client.post(reverse("account_logout"))
    assert signed_out.status_code == 302
    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_activating_totp_opens_the_admin_and_is_audited(django_capture_on_commit_callbacks):
    # given a staff member signed in with their password, on the activation page
    user = staff_user(
        "desk@museum.example",
        "Front desk",
        password=PASSWORD,
        with_totp=False,
        verified_email=True,
    )
    client = Client()
    _sign_in(client, user.email)
    secret = _activation_secret(client)
    # when they type the code their app shows
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ACTIVATE, {"code": fresh_totp_code(secret)})
    # then TOTP is active (with recovery codes), and the admin opens
    assert response.status_code == 302
    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,
    }
    assert client.get("/admin/").status_code == 200
    added = _events(SECOND_FACTOR_ADDED)
    assert {event.data["authenticator"] for event in added} == {"totp", "recovery_codes"}
    assert {(event.subject_id, event.actor_id) for event in added} == {(str(user.pk), user.pk)}


def test_a_wrong_activation_code_activates_nothing():
    user = staff_user(
        "desk@museum.example", password=PASSWORD, with_totp=False, verified_email=True
    )
    client = Client()
    _sign_in(client, user.email)
    _activation_secret(client)
    response = client.post(ACTIVATE, {"code": "000000"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not Authenticator.objects.filter(user=user).exists()
    assert client.get("/admin/")["Location"] == ACTIVATE


# --- Signing in: through allauth, password then code ----------------------------------


def test_the_admin_login_page_sends_staff_to_allauths_sign_in():
    response = Client().get("/admin/login/", {"next": "/admin/ticketing/order/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fticketing%2Forder%2F"


def test_the_admin_login_page_ignores_a_next_to_another_site():
    response = Client().get("/admin/login/", {"next": "https://evil.example/admin/"})
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_an_anonymous_visit_to_the_admin_ends_on_allauths_sign_in():
    response = Client().get("/admin/ticketing/order/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2Fticketing%2Forder%2F"
    assert response.templates[0].name.startswith("account/login")


def test_staff_sign_in_asks_for_the_code_after_the_password_and_is_audited():
    # given a staff member with an authenticator app
    user = staff_user(
        "manager@museum.example",
        "Manager",
        password=PASSWORD,
        with_totp=False,
        verified_email=True,
    )
    secret = totp_activate(user)
    client = Client()
    # when they give their password
    response = _sign_in(client, user.email)
    # then they are asked for the code, and not yet signed in
    assert (response.status_code, response["Location"]) == (302, reverse("mfa_authenticate"))
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert _events(SIGN_IN) == []
    # when they give the code of their app
    response = client.post(reverse("mfa_authenticate"), {"code": fresh_totp_code(secret)})
    # then they reach the admin, and the sign-in is audited with both steps
    assert (response.status_code, response["Location"]) == (302, "/admin/")
    assert client.get("/admin/").status_code == 200
    [event] = _events(SIGN_IN)
    assert (event.subject_type, event.subject_id, event.actor_id) == (
        "accounts.user",
        str(user.pk),
        user.pk,
    )
    assert event.data["email"] == "manager@museum.example"
    assert event.data["steps"] == ["password", "mfa"]
    assert event.data["client"] == "127.0.0.1"


def test_a_wrong_code_is_refused_and_audited():
    user = staff_user("manager@museum.example", "Manager", password=PASSWORD, verified_email=True)
    client = Client()
    _sign_in(client, user.email)
    response = client.post(reverse("mfa_authenticate"), {"code": "123456"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert _events(SIGN_IN) == []
    [event] = _events(SECOND_FACTOR_FAILED)
    assert (event.subject_id, event.actor_id, event.actor_label) == (
        str(user.pk),
        None,
        "anonymous",
    )
    assert event.data["authenticator"] == "totp"
    assert "123456" not in json.dumps(event.data)


def test_a_failed_staff_sign_in_is_audited_without_the_password():
    user = staff_user("desk@museum.example", "Front desk", password=PASSWORD, verified_email=True)
    response = _sign_in(Client(), "Desk@Museum.example", password="Wrong-guess-42")
    assert response.status_code == 200
    [event] = _events(SIGN_IN_FAILED)
    assert (event.subject_id, event.actor_id) == (str(user.pk), None)
    assert event.data == {"email": "desk@museum.example", "client": "127.0.0.1"}
    assert "Wrong-guess-42" not in json.dumps(event.data)


def test_failed_sign_ins_of_visitors_and_unknown_addresses_are_not_kept():
    User.objects.create_user("ada@example.org", password=PASSWORD)
    _sign_in(Client(), "ada@example.org", password="Wrong-guess-42", next_url="/")
    _sign_in(Client(), "nobody@example.org", password="Wrong-guess-42", next_url="/")
    assert AuditEvent.objects.count() == 0


def test_sign_ins_are_rate_limited_per_address_after_n_failures():
    # given a staff member and allauth's limit of N failed attempts per address
    user = staff_user("desk@museum.example", "Front desk", password=PASSWORD, verified_email=True)
    limit = _login_failed_limit_per_address()
    client = Client()
    # when someone tries N wrong passwords
    for attempt in range(limit):
        response = _sign_in(client, user.email, password=f"Wrong-guess-{attempt}")
        assert response.status_code == 200
    # then even the right password is refused for now
    response = _sign_in(client, user.email)
    assert response.status_code == 200
    assert "too many failed login attempts" in response.content.decode().lower()
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert len(_events(SIGN_IN_FAILED)) == limit
    assert _events(SIGN_IN) == []


def test_the_audit_service_rejects_an_unknown_action():
    user = staff_user("desk@museum.example")
    with pytest.raises(ValueError):
        staff_sign_in_record(action="staff.sign_in_maybe", user=user)
    assert AuditEvent.objects.count() == 0


def test_recovery_code_page_shows_ten_codes_after_activation():
    # the codes staff keep for a lost phone are generated with the authenticator app
    user = staff_user(
        "desk@museum.example", password=PASSWORD, with_totp=False, verified_email=True
    )
    client = Client()
    _sign_in(client, user.email)
    secret = _activation_secret(client)
    response = client.post(ACTIVATE, {"code": fresh_totp_code(secret)}, follow=True)
    assert response.status_code == 200
    codes = re.findall(r"\b\d{8}\b", response.content.decode())
    assert len(set(codes)) == 10


def test_the_tests_totp_follows_rfc_6238_like_allauth():
    # RFC 6238, appendix B (SHA-1 key "12345678901234567890"), last six digits
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp_code(secret, at=59) == "287082"
    assert totp_code(secret, at=1111111109) == "081804"
    assert totp_code(secret, at=1234567890) == "005924"
    assert totp_code(secret, at=1234567890) == format_hotp_value(
        hotp_value(secret, 1234567890 // 30)
    )
