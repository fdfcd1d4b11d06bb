"""Subject requests: the public page, the confirmation link, deadlines, the copy of the data."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pypdfium2
import pytest
import time_machine
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from museum.models import OutboxEmail
from privacy.models import ProcessingRestriction, SubjectRequest, SubjectRequestEvent
from privacy.requests import (
    DOWNLOAD_SALT,
    SubjectRequestError,
    download_token,
    request_apply_restriction,
    request_close,
    request_extend,
    request_send_copy,
    request_submit,
    request_verify,
    verification_token,
)
from privacy.selectors import is_restricted
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

pytestmark = pytest.mark.django_db

ADA = "ada@example.org"
NOON = dt.datetime(2026, 1, 31, 12, 0, tzinfo=dt.UTC)


def _guest_order(email: str = ADA) -> Order:
    slot = TimeSlotFactory(capacity=20)
    adult = TicketTypeFactory(site=slot.site, name="Adult")
    return order_place(
        lines=[OrderLine(slot.pk, adult.pk, 1)],
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name="Ada Lovelace",
    )


def _link(email: OutboxEmail, pattern: str) -> str:
    match = re.search(r"https?://[^/\s]+(" + pattern + r"[^\s]*)", email.body_text)
    assert match, email.body_text
    return match.group(1)


def _opened(kind: str = SubjectRequest.Kind.ACCESS, *, email: str = ADA, now=NOON):
    request = request_submit(kind=kind, email=email, language="en", now=now)
    return request_verify(token=verification_token(request), now=now)


# --- the public page --------------------------------------------------------------------------


def test_known_and_unknown_addresses_get_the_same_answer(client):
    # given Ada is a buyer; nobody@example.org is unknown
    _guest_order()
    # when both ask for a copy
    known = client.post(reverse("privacy:request"), {"kind": "access", "email": ADA}, follow=True)
    unknown = client.post(
        reverse("privacy:request"), {"kind": "access", "email": "nobody@example.org"}, follow=True
    )
    # then the pages are the same, and each address gets a confirmation link
    assert known.status_code == unknown.status_code == 200
    assert (
        known.redirect_chain == unknown.redirect_chain == [(reverse("privacy:request_sent"), 302)]
    )
    csrf = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')
    assert csrf.sub(b"", known.content) == csrf.sub(b"", unknown.content)
    assert b"If this address is known to us" in known.content
    assert sorted(
        OutboxEmail.objects.filter(dedupe_key__startswith="privacy.request.verify").values_list(
            "to", flat=True
        )
    ) == [ADA, "nobody@example.org"]
    assert set(SubjectRequest.objects.values_list("status", flat=True)) == {
        SubjectRequest.Status.AWAITING_VERIFICATION
    }


def test_the_page_refuses_a_missing_kind_and_a_bad_address(client):
    response = client.post(reverse("privacy:request"), {"kind": "dance", "email": "not-an-address"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"kind", "email"}
    assert SubjectRequest.objects.count() == 0
    assert OutboxEmail.objects.count() == 0


def test_following_the_link_opens_the_request_due_in_one_month(client):
    # given a request made on the page on 31 January
    with time_machine.travel(NOON, tick=False):
        client.post(reverse("privacy:request"), {"kind": "erasure", "email": " Ada@Example.org "})
        link = _link(OutboxEmail.objects.get(to=ADA), "/privacy/request/confirm/")
        # when Ada follows the link
        response = client.get(link)
    # then the request is open, due one month later (the end of February), and she is told
    request = SubjectRequest.objects.get()
    assert response.status_code == 200
    assert request.email == ADA
    assert request.status == SubjectRequest.Status.OPEN
    assert request.verified_at == NOON
    assert request.due_on == dt.date(2026, 2, 28)
    assert b"Request confirmed" in response.content
    assert list(request.events.values_list("action", flat=True)) == ["received", "verified"]


def test_a_reused_link_is_refused_and_changes_nothing(client):
    request = request_submit(kind="access", email=ADA, language="en", now=NOON)
    token = verification_token(request)
    request_verify(token=token, now=NOON)
    before = SubjectRequest.objects.values().get()
    # when the link is followed again
    response = client.get(reverse("privacy:request_verify", args=[token]))
    # then it is refused with a message, and the request and its trail are unchanged
    assert response.status_code == 400
    assert b"already been used" in response.content
    assert SubjectRequest.objects.values().get() == before
    assert SubjectRequestEvent.objects.count() == 2


def test_a_tampered_link_is_refused_and_changes_nothing(client):
    request = request_submit(kind="access", email=ADA, language="en", now=NOON)
    token = verification_token(request)
    forged = signing.dumps({"r": str(request.public_id)}, salt="another-salt")
    for bad in (token[:-2] + "xx", forged, "garbage"):
        response = client.get(reverse("privacy:request_verify", args=[bad]))
        assert response.status_code == 400
        assert b"not valid" in response.content
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.AWAITING_VERIFICATION
    assert request.verified_at is None


def test_an_expired_link_is_refused_and_changes_nothing(client):
    with time_machine.travel(NOON, tick=False):
        request = request_submit(kind="access", email=ADA, language="en")
        token = verification_token(request)
    with time_machine.travel(NOON + dt.timedelta(hours=24, seconds=1), tick=False):
        response = client.get(reverse("privacy:request_verify", args=[token]))
    assert response.status_code == 400
    assert b"expired" in response.content
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.AWAITING_VERIFICATION
    assert request.due_on is None


def test_a_signed_in_holder_asking_for_their_own_address_is_verified_at_once(client):
    ada = UserFactory(email=ADA)
    client.force_login(ada)
    response = client.post(reverse("privacy:request"), {"kind": "objection", "email": ADA})
    assert response.url == reverse("privacy:request_sent_verified")
    request = SubjectRequest.objects.get()
    assert request.status == SubjectRequest.Status.OPEN
    assert request.user == ada
    assert request.due_on is not None
    assert not OutboxEmail.objects.filter(dedupe_key__startswith="privacy.request.verify").exists()


def test_a_signed_in_holder_asking_for_another_address_must_confirm_it(client):
    client.force_login(UserFactory(email=ADA))
    client.post(reverse("privacy:request"), {"kind": "access", "email": "bob@example.org"})
    request = SubjectRequest.objects.get()
    assert request.status == SubjectRequest.Status.AWAITING_VERIFICATION
    assert request.user is None
    assert OutboxEmail.objects.get().to == "bob@example.org"


def test_the_form_is_rate_limited(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "privacy_request": "2/10m"}
    for _ in range(2):
        client.post(reverse("privacy:request"), {"kind": "access", "email": ADA})
    response = client.post(reverse("privacy:request"), {"kind": "access", "email": ADA})
    assert response.status_code == 429
    assert SubjectRequest.objects.count() == 2


# --- deadlines ----------------------------------------------------------------------------------


def test_the_deadline_is_extended_by_at_most_two_months_with_a_reason():
    dpo = UserFactory(email="dpo@museum.example", is_staff=True)
    request = _opened()  # due 28 February
    with pytest.raises(SubjectRequestError):
        request_extend(request=request, until=dt.date(2026, 3, 31), reason="  ", actor=dpo)
    with pytest.raises(SubjectRequestError):
        request_extend(request=request, until=dt.date(2026, 4, 29), reason="Many", actor=dpo)
    request.refresh_from_db()
    assert request.extended_to is None
    # when extended to exactly two months after the first deadline
    request_extend(
        request=request, until=dt.date(2026, 4, 28), reason="Data in many archives", actor=dpo
    )
    request.refresh_from_db()
    assert request.extended_to == dt.date(2026, 4, 28)
    assert request.extension_reason == "Data in many archives"
    told = OutboxEmail.objects.get(dedupe_key__startswith="privacy.request.extended")
    assert told.to == ADA
    assert "Data in many archives" in told.body_text
    assert request.events.last().action == "extended"
    assert request.events.last().actor == dpo


def test_an_unverified_request_cannot_be_worked():
    request = request_submit(kind="restriction", email=ADA, language="en", now=NOON)
    with pytest.raises(SubjectRequestError):
        request_apply_restriction(request=request, actor=None)
    assert ProcessingRestriction.objects.count() == 0


# --- restriction, objection, closing ------------------------------------------------------------


def test_an_objection_is_applied_and_respected():
    dpo = UserFactory(email="dpo@museum.example", is_staff=True)
    request = _opened(SubjectRequest.Kind.OBJECTION)
    assert is_restricted(email=ADA, purpose="marketing") is False
    request_apply_restriction(request=request, actor=dpo)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
    assert is_restricted(email="ADA@example.org", purpose="marketing") is True
    assert is_restricted(email=ADA, purpose="ticket_sales") is False  # tickets still come
    assert OutboxEmail.objects.filter(
        to=ADA, dedupe_key=f"privacy.request.closed:{request.public_id}"
    ).exists()


def test_a_restriction_applies_to_every_purpose_until_lifted():
    request_apply_restriction(request=_opened(SubjectRequest.Kind.RESTRICTION), actor=None)
    assert is_restricted(email=ADA, purpose="ticket_sales") is True
    ProcessingRestriction.objects.update(lifted_at=timezone.now())
    assert is_restricted(email=ADA, purpose="marketing") is False


def test_a_rectification_is_closed_with_the_answer():
    request = _opened(SubjectRequest.Kind.RECTIFICATION)
    with pytest.raises(SubjectRequestError):
        request_close(request=request, outcome=" ", actor=None)
    request_close(request=request, outcome="Your name is now spelt Ada Lovelace.", actor=None)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE
    assert request.outcome == "Your name is now spelt Ada Lovelace."
    assert "Ada Lovelace" in OutboxEmail.objects.get(to=ADA, subject__contains="done").body_text


# --- the copy of the data ------------------------------------------------------------------------


def test_the_copy_is_sent_by_a_link_that_returns_the_persons_data(client):
    order = _guest_order()
    _guest_order(email="bob@example.org")
    request = _opened()
    request_send_copy(request=request, actor=None)
    mail = OutboxEmail.objects.get(dedupe_key=f"privacy.request.closed:{request.public_id}")
    # when Ada follows the JSON link
    response = client.get(_link(mail, "/privacy/download/").replace("format=pdf", "format=json"))
    # then it is her data and nobody else's
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    bundle = json.loads(response.content)
    assert bundle["person"]["emails"] == [ADA]
    orders = bundle["sections"]["ticketing.order"]["rows"]
    assert [row["code"] for row in orders] == [order.code]
    assert "bob@example.org" not in response.content.decode()
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.DONE


def test_the_copy_as_pdf(client):
    _guest_order()
    request = _opened()
    request_send_copy(request=request, actor=None)
    token = download_token(request)
    response = client.get(reverse("privacy:download", args=[token]) + "?format=pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_another_persons_copy_cannot_be_forged_nor_used_after_expiry(client):
    _guest_order(email="bob@example.org")
    with time_machine.travel(NOON, tick=False):
        ada = _opened()
        request_send_copy(request=ada, actor=None)
        bob = _opened(email="bob@example.org")  # verified but no copy sent
        token = download_token(ada)
    forged = [
        # Ada's link with Bob's address, signed with the wrong key/salt
        signing.dumps({"r": str(ada.public_id), "e": "bob@example.org"}, salt="other"),
        # Bob's request: signed properly but not a sent copy
        signing.dumps({"r": str(bob.public_id), "e": "bob@example.org"}, salt=DOWNLOAD_SALT),
        # Ada's id with Bob's address (a real signature cannot cover it)
        signing.dumps({"r": str(ada.public_id), "e": "bob@example.org"}, salt=DOWNLOAD_SALT),
        token[:-3] + "abc",
    ]
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        for bad in forged:
            response = client.get(reverse("privacy:download", args=[bad]) + "?format=json")
            assert response.status_code == 400, bad
            assert "bob@example.org" not in response.content.decode()
        assert (
            client.get(reverse("privacy:download", args=[token]) + "?format=json").status_code
            == 200
        )
    with time_machine.travel(NOON + dt.timedelta(days=7, seconds=1), tick=False):
        response = client.get(reverse("privacy:download", args=[token]) + "?format=json")
    assert response.status_code == 400
    assert b"expired" in response.content


def test_only_an_open_access_request_sends_a_copy():
    request = _opened(SubjectRequest.Kind.ERASURE)
    with pytest.raises(SubjectRequestError):
        request_send_copy(request=request, actor=None)
    request.refresh_from_db()
    assert request.status == SubjectRequest.Status.OPEN
    assert not OutboxEmail.objects.filter(dedupe_key__startswith="privacy.request.closed").exists()


def test_the_notice_links_to_the_request_page_which_opens(client):
    notice = client.get(reverse("privacy:notice"))
    assert reverse("privacy:request") in notice.content.decode()
    page = client.get(reverse("privacy:request"))
    assert page.status_code == 200
    assert [value for value, _label in page.context["form"].fields["kind"].choices] == list(
        SubjectRequest.Kind.values
    )


def test_the_copy_of_an_address_with_an_account_holds_the_accounts_data(client):
    # given Ada has an account, and an order bought under another address but in her account
    ada = UserFactory(email=ADA, first_name="Ada")
    other = _guest_order(email="ada.work@example.org")
    Order.objects.filter(pk=other.pk).update(user=ada)
    request = _opened()  # asked as a guest, proving only the address
    request_send_copy(request=request, actor=None)
    response = client.get(
        reverse("privacy:download", args=[download_token(request)]), {"format": "json"}
    )
    bundle = json.loads(response.content)
    # then the account's rows are in the copy: the address proves the account
    assert bundle["person"]["account"] == ada.pk
    assert [row["code"] for row in bundle["sections"]["ticketing.order"]["rows"]] == [other.code]
    assert bundle["sections"]["accounts.user"]["rows"][0]["first_name"] == "Ada"


def test_the_pdf_copy_is_in_the_persons_language(client):
    _guest_order()
    request = request_submit(kind="access", email=ADA, language="fr", now=NOON)
    request = request_verify(token=verification_token(request), now=NOON)
    request_send_copy(request=request, actor=None)
    mail = OutboxEmail.objects.get(dedupe_key=f"privacy.request.closed:{request.public_id}")
    assert mail.language == "fr"
    response = client.get(
        reverse("privacy:download", args=[download_token(request)]), {"format": "pdf"}
    )
    assert response.status_code == 200
    text = pypdfium2.PdfDocument(io.BytesIO(response.content))[0].get_textpage().get_text_range()
    assert "Une copie de vos données" in text
    assert "A copy of your data" not in text
