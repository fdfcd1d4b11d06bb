"""allauth flows: sign-up, verification, password reset, rate limits, guest orders attach."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from accounts.models import User
from accounts.services.users import guest_orders_attach
from museum.models import AuditEvent, OutboxEmail
from tests.accounts.factories import PASSWORD, UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Museum-Visit-2026!"
SIGNUP_URL = reverse("account_signup")
LOGIN_URL = reverse("account_login")
RESET_URL = reverse("account_reset_password")


def _signup(client, email, **extra):
    return client.post(
        SIGNUP_URL, {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, **extra
    )


def _guest_order(email: str) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site)
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Guest",
    )


def _allauth_emails(to: str) -> list[OutboxEmail]:
    return list(OutboxEmail.objects.filter(to=to, dedupe_key__startswith="allauth:").order_by("pk"))


def _link(text: str) -> str:
    return re.search(r"http://testserver(/accounts/\S+/)", text).group(1)


# --- sign-up and verification ----------------------------------------------------------


def test_signup_in_french_queues_the_verification_email_in_french_through_the_outbox(
    client, django_capture_on_commit_callbacks
):
    # when a visitor browsing in French signs up
    with django_capture_on_commit_callbacks(execute=True):
        response = _signup(client, "Lea@Example.org", HTTP_ACCEPT_LANGUAGE="fr")

    # then the verification page follows and the account speaks French
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="lea@example.org")
    assert user.preferred_language == "fr"
    assert not EmailAddress.objects.get(user=user).verified
    # and one French verification e-mail was stored in the outbox with its link, and sent
    [email] = _allauth_emails("lea@example.org")
    assert email.language == "fr"
    assert email.subject == "Museum: Confirmez votre adresse e-mail"
    assert "/accounts/confirm-email/" in email.body_text
    assert 'href="http://testserver/accounts/confirm-email/' in email.body_html
    assert email.status == OutboxEmail.Status.SENT
    assert [m.subject for m in mail.outbox] == [email.subject]


def test_the_verification_link_verifies_the_address_and_then_sign_in_works(client):
    # given a new account waiting for verification
    _signup(client, "lea@example.org")
    [email] = _allauth_emails("lea@example.org")
    client.logout()
    # and sign-in is refused before verification (the verification page is shown instead)
    response = client.post(LOGIN_URL, {"login": "lea@example.org", "password": NEW_PASSWORD})
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session

    # when the link of the e-mail is opened and confirmed
    link = _link(email.body_text)
    assert client.get(link).status_code == 200
    client.post(link)

    # then the address is verified and sign-in succeeds
    assert EmailAddress.objects.get(email="lea@example.org").verified
    response = client.post(LOGIN_URL, {"login": "lea@example.org", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(User.objects.get(email="lea@example.org").pk)


def test_signup_with_a_known_email_answers_exactly_like_a_new_one(client):
    # given an account with a verified address
    known = UserFactory(email="ada@example.org")

    # when someone signs up with that address, and someone else with a new one
    known_response = _signup(client, "ada@example.org")
    client.logout()
    new_response = _signup(client, "new@example.org")

    # then both get the same answer
    assert known_response.status_code == new_response.status_code == 302
    assert known_response["Location"] == new_response["Location"]
    # and no second account exists; the holder is told by e-mail that the account exists
    assert User.objects.filter(email="ada@example.org").count() == 1
    assert User.objects.get(email="ada@example.org").password == known.password
    [email] = _allauth_emails("ada@example.org")
    assert "/accounts/password/reset/" in email.body_text


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(client):
    # given one known address
    UserFactory(email="ada@example.org")

    # when a reset is asked for the known and for an unknown address
    known = client.post(RESET_URL, {"email": "ada@example.org"})
    unknown = client.post(RESET_URL, {"email": "nobody@example.org"})

    # then the answers are the same
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("account_reset_password_done")
    # and the known holder gets a reset link, the unknown address only a notice
    [reset] = _allauth_emails("ada@example.org")
    assert "/accounts/password/reset/key/" in reset.body_text
    [notice] = _allauth_emails("nobody@example.org")
    assert "/accounts/password/reset/key/" not in notice.body_text
    assert "/accounts/signup/" in notice.body_text


def test_password_reset_by_the_emailed_link_sets_the_new_password(client):
    # given a holder who asked for a reset
    user = UserFactory(email="ada@example.org")
    client.post(RESET_URL, {"email": "ada@example.org"})
    [email] = _allauth_emails("ada@example.org")

    # when the link is followed and a new password is set
    response = client.get(_link(email.body_text), follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    # then the new password works (hashed with Argon2)
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.password.startswith("argon2")


def test_failed_sign_ins_are_rate_limited_per_address(client):
    # given an account and five wrong passwords
    user = UserFactory(email="ada@example.org")
    for _ in range(5):
        response = client.post(LOGIN_URL, {"login": "ada@example.org", "password": "wrong-one"})
        assert response.status_code == 200
        assert "_auth_user_id" not in client.session

    # when the right password follows
    response = client.post(LOGIN_URL, {"login": "ada@example.org", "password": PASSWORD})

    # then it is refused too, with allauth's message
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    user.refresh_from_db()
    assert user.last_login is None


def test_weak_password_is_refused_by_djangos_validators(client):
    response = client.post(
        SIGNUP_URL, {"email": "lea@example.org", "password1": "12345678", "password2": "12345678"}
    )
    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert not User.objects.filter(email="lea@example.org").exists()
    assert OutboxEmail.objects.count() == 0


# --- guest orders attach only after verification -----------------------------------------


def test_guest_orders_attach_only_once_the_address_is_verified(client):
    # given a guest order bought with an address, and one of another holder
    order = _guest_order("lea@example.org")
    someone = UserFactory(email="someone@example.org")
    other_account_order = _guest_order("lea@example.org")
    Order.objects.filter(pk=other_account_order.pk).update(user=someone)

    # when that address signs up
    _signup(client, "Lea@example.org")

    # then nothing is attached yet
    user = User.objects.get(email="lea@example.org")
    order.refresh_from_db()
    assert order.user is None
    assert not AuditEvent.objects.filter(action="account.guest_orders_attached").exists()

    # when the address is verified by the e-mailed link
    [email] = _allauth_emails("lea@example.org")
    client.post(_link(email.body_text))

    # then the guest order is the account's; the other account's order stays there
    order.refresh_from_db()
    assert order.user == user
    assert Order.objects.get(pk=other_account_order.pk).user == someone
    event = AuditEvent.objects.get(action="account.guest_orders_attached")
    assert event.subject_id == str(user.pk)
    assert event.data == {"email": "lea@example.org", "orders": [order.pk], "cards": []}


def test_guest_orders_attach_returns_counts_and_is_a_no_op_the_second_time():
    # given two guest orders and a holder
    first, second = _guest_order("ada@example.org"), _guest_order("ADA@example.org")
    _guest_order("other@example.org")
    user = UserFactory(email="ada@example.org")

    # when attached twice
    counts = guest_orders_attach(user=user, email="Ada@Example.org")
    again = guest_orders_attach(user=user, email="ada@example.org")

    # then the first call moved both, the second nothing (and wrote no second event)
    assert counts == {"orders": 2, "cards": 0}
    assert again == {"orders": 0, "cards": 0}
    assert set(Order.objects.filter(user=user).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }
    assert Order.objects.filter(user__isnull=True).count() == 1
    assert AuditEvent.objects.filter(action="account.guest_orders_attached").count() == 1


def test_guest_museum_cards_attach_with_the_orders():
    from accounts.models import CardProduct, MuseumCard

    # given a card bought by a guest for this address and one for another
    product = CardProduct.objects.create(name="Annual card", price_cents=6000)
    card = MuseumCard.objects.create(product=product, holder_email="ada@example.org")
    other = MuseumCard.objects.create(product=product, holder_email="bob@example.org")
    user = UserFactory(email="ada@example.org")

    # when the address is attached
    counts = guest_orders_attach(user=user, email="ada@example.org")

    # then only that card has the account as holder
    assert counts == {"orders": 0, "cards": 1}
    card.refresh_from_db()
    other.refresh_from_db()
    assert card.holder == user
    assert other.holder is None


# --- allauth pages in the site layout ----------------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    ["account_login", "account_signup", "account_reset_password", "account_reset_password_done"],
)
def test_allauth_pages_render_in_the_site_layout(client, url_name):
    html = client.get(reverse(url_name)).content.decode()
    assert 'class="site-header"' in html
    assert 'href="/static/css/site.css"' in html


def test_allauth_pages_are_translated(client):
    html = client.get(LOGIN_URL, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="fr">' in html
    assert "Connexion" in html


# --- e-mail change with re-verification -------------------------------------------------


def test_changing_the_email_takes_effect_only_once_the_new_address_is_verified(client):
    # given a signed-in holder and a guest order of the address they move to
    user = UserFactory(email="ada@example.org")
    order = _guest_order("ada@new.example")
    client.force_login(user)

    # when the holder asks to change the address
    response = client.post(reverse("account_email"), {"email": "ada@new.example", "action_add": ""})

    # then the old address stays the account's until the new one is verified
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "ada@example.org"
    order.refresh_from_db()
    assert order.user is None
    [verification] = _allauth_emails("ada@new.example")
    assert "/accounts/confirm-email/" in verification.body_text

    # when the new address is verified by its link
    client.post(_link(verification.body_text))

    # then the account uses it, the old one is gone, and the guest order is attached
    user.refresh_from_db()
    assert user.email == "ada@new.example"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", "verified")) == [
        ("ada@new.example", True)
    ]
    order.refresh_from_db()
    assert order.user == user
    # and the old address was told of the change
    [notice] = _allauth_emails("ada@example.org")
    assert "ada@new.example" in notice.body_text


def test_changing_the_password_keeps_the_holder_signed_in_and_notifies_them(client):
    # given a signed-in holder
    user = UserFactory(email="ada@example.org", preferred_language="nl")
    client.force_login(user)

    # when the password is changed
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    # then the holder stays signed in with the new password
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    # and a notice went to the holder's address in the holder's language
    [notice] = _allauth_emails("ada@example.org")
    assert notice.language == "nl"
