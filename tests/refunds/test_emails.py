"""The refund e-mails: each one renders, in the buyer's language, with the link to the page."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.urls import resolve
from django.utils import timezone, translation
from django.utils.formats import date_format

from museum.emails import render_email
from museum.models import OutboxEmail
from refunds.models import Choice, Refund, Voucher
from refunds.services.refunds import (
    refund_approve,
    refund_choose,
    refund_public_path,
    refund_refuse,
    refund_request,
)
from tests.refunds.core_helpers import visit_slot
from tests.refunds.view_helpers import cancel_slot, cash_order, demo_order, link_in, offered_refund

pytestmark = pytest.mark.django_db

TEMPLATES = ["offer", "approved", "requested", "refused", "voucher", "paid", "bank_details_needed"]


def _context(**extra) -> dict:
    """The keys ``refunds.services.refunds._mail`` passes, with awkward values."""
    return {
        "order_code": "MUS-ABC123",
        "name": "Zoë <O'Brien>",
        "amount": 26.5,
        "paid": 28.0,
        "fee": 1.5,
        "currency": "EUR",
        "method": "bank transfer",
        "refund_url": "https://museum.example/refunds/refund/tok123/",
        "reason": "a burst water pipe & a flood",
        "answer_by": timezone.now() + dt.timedelta(days=14),
        "default_choice": "voucher",
        "needs_bank_details": True,
        "voucher_code": "ABCD-EFGH-JKLM",
        "voucher_amount": 28.0,
        "voucher_valid_until": dt.date(2027, 11, 23),
        **extra,
    }


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_refund_email_renders_with_the_order_and_the_link(template, language):
    subject, text, html = render_email(
        template=f"refunds/{template}", context=_context(), language=language
    )
    assert subject and "\n" not in subject and "MUS-ABC123" in subject
    for body in (text, html):
        assert "MUS-ABC123" in body
        assert "https://museum.example/refunds/refund/tok123/" in body
        assert "{{" not in body and "{%" not in body
    # the text part is not escaped, the HTML part is
    assert "Zoë <O'Brien>" in text
    assert "Zoë &lt;O&#x27;Brien&gt;" in html and "<O'Brien>" not in html


def test_the_offer_lists_the_choices_the_reason_and_the_default():
    _subject, text, html = render_email(template="refunds/offer", context=_context(), language="en")
    for body in (text, html):
        assert "a burst water pipe" in body
        assert "a refund of 26.50 EUR" in body
        assert "another date" in body
        assert "a voucher" in body
        assert "we will apply the default for you: voucher" in body
        assert "IBAN" in body
    assert 'href="https://museum.example/refunds/refund/tok123/"' in html


def test_the_offer_of_free_tickets_offers_only_another_date():
    _subject, text, _html = render_email(
        template="refunds/offer",
        context=_context(paid=0.0, amount=0.0, needs_bank_details=False),
        language="en",
    )
    assert "another date" in text
    assert "a refund of" not in text and "a voucher" not in text and "IBAN" not in text


def test_the_voucher_email_carries_the_code_value_and_end_date():
    _subject, text, html = render_email(
        template="refunds/voucher", context=_context(), language="en"
    )
    for body in (text, html):
        assert "ABCD-EFGH-JKLM" in body
        assert "28.00 EUR" in body
        assert "Nov. 23, 2027" in body


def test_the_offer_goes_out_in_french_for_a_french_order(run_tasks):
    # given a French buyer's order on a slot the museum cancels
    slot = visit_slot()
    order = cash_order(slot=slot, language="fr", email="marie@example.fr")
    campaign = cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    # then the offer is stored in French, addressed to the buyer, with the page's link
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.offer:{refund.pk}")
    assert (email.to, email.language) == ("marie@example.fr", "fr")
    path = link_in(email)
    assert path == refund_public_path(refund)
    assert resolve(path).url_name == "refund"
    assert f"{settings.SITE_URL}{path}" in email.body_text
    assert f'href="{settings.SITE_URL}{path}"' in email.body_html
    assert order.code in email.subject and order.code in email.body_text
    assert "a burst water pipe" in email.body_text
    # and the answer-by date is written the French way (Django's own French formats)
    with translation.override("fr"):
        french_date = date_format(timezone.localtime(campaign.answer_by), "DATETIME_FORMAT")
    with translation.override("en"):
        english_date = date_format(timezone.localtime(campaign.answer_by), "DATETIME_FORMAT")
    assert french_date != english_date
    assert french_date in email.body_text
    assert english_date not in email.body_text


def test_the_refund_page_link_of_the_offer_opens_the_buyers_page(client, run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.offer:{refund.pk}")
    response = client.get(link_in(email))
    assert response.status_code == 200
    assert response.context["refund"] == refund


def test_a_request_then_a_refusal_each_mail_the_buyer_once(run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot)
    refund = refund_request(order=order, ticket_ids=None)
    refund_refuse(refund=refund, actor=None, reason="The visit is in two days.")
    requested = OutboxEmail.objects.get(dedupe_key=f"refunds.requested:{refund.pk}")
    refused = OutboxEmail.objects.get(dedupe_key=f"refunds.refused:{refund.pk}")
    assert link_in(requested) == link_in(refused) == refund_public_path(refund)
    assert "The visit is in two days." in refused.body_text
    assert "The visit is in two days." in refused.body_html


def test_an_approved_bank_refund_asks_for_the_iban(run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot)
    refund = refund_approve(refund=refund_request(order=order, ticket_ids=None), actor=None)
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.approved:{refund.pk}")
    assert "IBAN" in email.body_text
    assert link_in(email) == refund_public_path(refund)


def test_a_voucher_choice_mails_the_voucher_code(run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    cancel_slot(slot, run_tasks, default_choice=Choice.VOUCHER)
    refund = refund_choose(refund=offered_refund(order), choice=Choice.VOUCHER)
    voucher = Voucher.objects.get(refund=refund)
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.voucher:{refund.pk}")
    assert voucher.code in email.body_text and voucher.code in email.body_html
    assert re.search(r"28\.00 EUR", email.body_text)


def test_a_card_refund_paid_back_says_so(run_tasks):
    slot = visit_slot()
    order = demo_order(slot=slot, quantity=1)
    cancel_slot(slot, run_tasks)
    with run_tasks():
        refund = refund_choose(refund=offered_refund(order), choice=Choice.REFUND)
    refund.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    email = OutboxEmail.objects.get(dedupe_key=f"refunds.paid:{refund.pk}")
    assert "14.00 EUR" in email.body_text and "has been paid back" in email.body_text
