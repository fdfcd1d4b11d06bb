"""The buyer's refund pages: the offer after a cancelled visit, bank details, the cancel
request from the order page; bad links, bad input and double clicks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from museum.models import AuditEvent, OutboxEmail
from refunds.models import Choice, Refund, Voucher
from refunds.services.refunds import refund_approve, refund_request
from tests.refunds.core_helpers import reseller_order, visit_slot
from tests.refunds.view_helpers import (
    VALID_IBAN,
    WRONG_IBAN,
    cancel_slot,
    cash_order,
    demo_order,
    later_slot,
    offered_refund,
)
from ticketing.models import Order, Ticket

pytestmark = pytest.mark.django_db


def _url(refund: Refund) -> str:
    return reverse("refunds:refund", kwargs={"token": refund.token})


def _cancel_url(order: Order) -> str:
    return reverse("refunds:order_cancel", kwargs={"token": order.access_token})


def _snapshot(refund: Refund) -> tuple:
    refund.refresh_from_db()
    return (refund.status, refund.choice, refund.iban, refund.account_holder, refund.updated_at)


# --- The offer page -------------------------------------------------------------------


def test_the_offer_page_shows_the_cancelled_visit_and_the_three_choices(client, run_tasks):
    # given a cash order of 2 tickets whose slot the museum cancels, and another slot
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    other = later_slot(slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    # when the buyer opens the link
    response = client.get(_url(refund))
    # then they see the order, the tickets, the amount, the status and the choices
    assert response.status_code == 200
    html = response.content.decode()
    assert order.code in html
    assert html.count("Adult") == 2
    assert "€\xa028.00" in html
    assert "Offered, awaiting the buyer" in html
    assert "a burst water pipe" in html
    # a bank refund asks for the account with the refund choice
    assert 'name="account_holder"' in html and 'name="iban"' in html and 'name="bic"' in html
    assert f'name="time_slot" value="{other.pk}"' in html
    assert 'value="voucher"' in html
    assert 'name="csrfmiddlewaretoken"' in html


@pytest.mark.parametrize("tamper", ["flip", "long", "other"])
def test_a_wrong_link_says_it_is_not_valid_and_shows_nothing_of_anyone(client, run_tasks, tamper):
    # given an offered refund
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    token = {
        "flip": refund.token[:-1] + ("A" if refund.token[-1] != "A" else "B"),
        "long": refund.token * 3,
        "other": order.access_token,  # the order's token is not the refund's
    }[tamper]
    before = _snapshot(refund)
    # when someone opens (or posts to) a link with an altered token
    got = client.get(reverse("refunds:refund", kwargs={"token": token}))
    posted = client.post(reverse("refunds:refund", kwargs={"token": token}), {"action": "voucher"})
    # then a clear 404 page, without the order's data; nothing changed
    for response in (got, posted):
        assert response.status_code == 404
        html = response.content.decode()
        assert "This link is not valid" in html
        assert order.code not in html
        assert "Grace Desk" not in html
    assert _snapshot(refund) == before
    assert not Voucher.objects.exists()


def test_a_bank_refund_with_a_valid_iban_is_approved_and_the_iban_is_shown_masked(
    client, run_tasks
):
    # given a cash order whose slot was cancelled
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    # when the buyer chooses the refund and gives an account (spaces, lower case)
    with run_tasks():
        response = client.post(
            _url(refund),
            {
                "action": "refund",
                "account_holder": "Grace  Desk",
                "iban": "be68 5390 0754 7034",
                "bic": "",
            },
            follow=True,
        )
    # then the refund is approved with the cleaned account, the page confirms it
    refund.refresh_from_db()
    assert refund.status == Refund.Status.APPROVED
    assert refund.choice == Choice.REFUND
    assert (refund.account_holder, refund.iban) == ("Grace Desk", VALID_IBAN)
    assert response.redirect_chain == [(_url(refund), 302)]
    html = response.content.decode()
    assert "Your refund is approved and will be paid to this account." in html
    assert "•••• 7034" in html
    assert VALID_IBAN not in html and "5390" not in html
    # no form to fill any more
    assert 'name="iban"' not in html
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.approved:{refund.pk}").exists()


def test_a_wrong_iban_keeps_what_was_typed_and_says_what_is_wrong(client, run_tasks):
    # given an offered bank refund
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    before = _snapshot(refund)
    # when the buyer types an IBAN with a wrong check digit
    response = client.post(
        _url(refund),
        {"action": "refund", "account_holder": "Grace Desk", "iban": WRONG_IBAN, "bic": ""},
    )
    # then the page comes back with their input and an error on the IBAN; nothing changed
    assert response.status_code == 400
    form = response.context["bank_form"]
    assert set(form.errors) == {"iban"}
    html = response.content.decode()
    assert 'value="Grace Desk"' in html
    assert f'value="{WRONG_IBAN}"' in html
    assert 'aria-invalid="true"' in html
    assert escape(str(form.errors["iban"][0])) in html
    assert _snapshot(refund) == before
    assert not AuditEvent.objects.filter(action="refund.bank_details_given").exists()


def test_the_iban_error_is_translated_for_a_french_visitor(client, run_tasks):
    # given an offered bank refund, and a visitor browsing in French
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    from django.utils import translation

    from refunds.iban import bank_details_clean

    with translation.override("fr"):
        try:
            bank_details_clean(account_holder="Grace", iban=WRONG_IBAN)
        except Exception as exc:  # noqa: BLE001 - the message is what matters here
            french = str(exc.message_dict["iban"][0])
    # when they post a wrong IBAN with the French language cookie
    client.cookies["django_language"] = "fr"
    response = client.post(
        _url(refund), {"action": "refund", "account_holder": "Grace", "iban": WRONG_IBAN}
    )
    # then the error is the French one of the IBAN check (whatever the catalogue holds)
    assert response.status_code == 400
    assert str(response.context["bank_form"].errors["iban"][0]) == french


def test_a_card_refund_is_chosen_in_one_click_and_paid_back(client, run_tasks):
    # given a web order paid through the demo provider, whose slot was cancelled
    slot = visit_slot()
    order = demo_order(slot=slot, quantity=2)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    page = client.get(_url(refund)).content.decode()
    assert 'name="iban"' not in page
    # when the buyer chooses the refund
    with run_tasks():
        response = client.post(_url(refund), {"action": "refund"})
    # then it is approved, sent to the demo provider and paid back
    assert response.status_code == 302
    refund.refresh_from_db()
    assert refund.choice == Choice.REFUND
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.iban == ""
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED


def test_a_second_submission_says_the_choice_was_made_and_changes_nothing(client, run_tasks):
    # given a buyer who chose the voucher
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    first = client.post(_url(refund), {"action": "voucher"})
    assert first.status_code == 302
    before = _snapshot(refund)
    assert before[0] == Refund.Status.VOUCHER
    # when the form is sent again, or another choice is sent from an old tab
    again = client.post(_url(refund), {"action": "voucher"})
    other = client.post(
        _url(refund),
        {"action": "refund", "account_holder": "Grace Desk", "iban": VALID_IBAN},
    )
    # then both say the choice was made; one voucher, no bank details, nothing changed
    for response in (again, other):
        assert response.status_code == 400
        assert "You have already chosen; this offer is closed." in response.content.decode()
    assert Voucher.objects.filter(refund=refund).count() == 1
    assert _snapshot(refund) == before
    # and the page shows the voucher instead of the choices
    html = again.content.decode()
    assert Voucher.objects.get(refund=refund).code in html
    assert 'value="rebook"' not in html


def test_another_date_moves_the_tickets(client, run_tasks):
    # given a cash order of 2 whose slot was cancelled, and a slot the next day
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    target = later_slot(slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    # when the buyer picks the new slot
    with run_tasks():
        response = client.post(
            _url(refund), {"action": "rebook", "time_slot": target.pk}, follow=True
        )
    # then two new valid tickets are in the new slot and the page says so
    refund.refresh_from_db()
    assert refund.status == Refund.Status.REBOOKED
    assert order.tickets.filter(time_slot=target, status=Ticket.Status.VALID).count() == 2
    assert "Your visit has been moved." in response.content.decode()


def test_another_date_is_picked_day_first_then_time(client, run_tasks):
    # given an offered refund and room on two later days (two times, then one)
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=1)
    first_a, first_b = later_slot(slot, hour=11), later_slot(slot, hour=15)
    second = later_slot(slot, days=3, hour=10)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    # when the buyer opens the page, the first day with room is shown with its times only
    html = client.get(_url(refund)).content.decode()
    assert f'value="{first_a.pk}"' in html and f'value="{first_b.pk}"' in html
    assert f'value="{second.pk}"' not in html
    second_day = timezone.localtime(second.starts_at).date()
    assert f'<option value="{second_day:%Y-%m-%d}"' in html
    # when they pick the other day
    html = client.get(_url(refund), {"day": f"{second_day:%Y-%m-%d}"}).content.decode()
    # then only its time is offered; a day with no room (or garbage) falls back to the first
    assert f'value="{second.pk}"' in html and f'value="{first_a.pk}"' not in html
    for junk in ("2001-01-01", "not-a-day", "2026-02-30"):
        response = client.get(_url(refund), {"day": junk})
        assert response.status_code == 200
        assert f'value="{first_a.pk}"' in response.content.decode()


def test_another_date_in_a_slot_that_filled_up_is_refused_and_nothing_changes(client, run_tasks):
    # given an offered refund of 2 seats and a slot of 2 shown to the buyer
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    target = later_slot(slot, capacity=2)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    assert f'value="{target.pk}"' in client.get(_url(refund)).content.decode()
    # when someone else buys a seat of it before the buyer sends their choice
    cash_order(slot=target, quantity=1, email="other@example.org")
    before = _snapshot(refund)
    response = client.post(_url(refund), {"action": "rebook", "time_slot": target.pk})
    # then the page says there is no room, offers the choices again; nothing changed
    assert response.status_code == 400
    assert "Only 1 place is left in this time slot." in response.content.decode()
    assert _snapshot(refund) == before
    assert not order.tickets.filter(time_slot=target).exists()
    assert 'value="voucher"' in response.content.decode()


def test_another_date_without_a_slot_or_of_another_exhibition_is_refused(client, run_tasks):
    # given an offered refund and a slot of another exhibition
    slot = visit_slot()
    order = cash_order(slot=slot)
    elsewhere = visit_slot(days_ahead=9)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    before = _snapshot(refund)
    # when the buyer sends no slot, a slot of another exhibition, or garbage
    for data in ({}, {"time_slot": elsewhere.pk}, {"time_slot": "x'; drop"}):
        response = client.post(_url(refund), {"action": "rebook", **data})
        # then a clear message, nothing changed
        assert response.status_code == 400
        assert response.context["rebook_form"].errors["time_slot"]
    assert _snapshot(refund) == before


def test_an_unknown_action_is_a_clear_message_not_an_error(client, run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    before = _snapshot(refund)
    response = client.post(_url(refund), {"action": "steal"})
    assert response.status_code == 400
    assert "Choose one of the options." in response.content.decode()
    assert _snapshot(refund) == before


def test_posting_without_the_csrf_token_is_refused(run_tasks):
    slot = visit_slot()
    order = cash_order(slot=slot)
    cancel_slot(slot, run_tasks)
    refund = offered_refund(order)
    before = _snapshot(refund)
    response = Client(enforce_csrf_checks=True).post(_url(refund), {"action": "voucher"})
    assert response.status_code == 403
    assert _snapshot(refund) == before


# --- Bank details after approval ------------------------------------------------------


def _approved_bank_refund(run_tasks) -> Refund:
    """A cash buyer's request, approved by staff: the account is still to be given."""
    slot = visit_slot()
    order = cash_order(slot=slot)
    refund = refund_request(order=order, ticket_ids=None)
    refund = refund_approve(refund=refund, actor=None)
    assert refund.needs_bank_details
    return refund


def test_an_approved_bank_refund_asks_for_the_account_and_takes_it(client, run_tasks):
    refund = _approved_bank_refund(run_tasks)
    html = client.get(_url(refund)).content.decode()
    assert 'value="bank"' in html and 'name="iban"' in html
    response = client.post(
        _url(refund),
        {"action": "bank", "account_holder": "Grace Desk", "iban": VALID_IBAN},
        follow=True,
    )
    refund.refresh_from_db()
    assert (refund.status, refund.iban) == (Refund.Status.APPROVED, VALID_IBAN)
    html = response.content.decode()
    assert "Thank you. We will pay the refund to this account." in html
    assert "•••• 7034" in html and 'name="iban"' not in html
    # a second post of the same form changes nothing
    before = _snapshot(refund)
    again = client.post(
        _url(refund), {"action": "bank", "account_holder": "Someone Else", "iban": VALID_IBAN}
    )
    assert again.status_code == 400
    assert "We already have your bank details; nothing was changed." in again.content.decode()
    assert _snapshot(refund) == before


def test_a_bounced_transfer_asks_for_the_account_again(client, run_tasks):
    refund = _approved_bank_refund(run_tasks)
    Refund.objects.filter(pk=refund.pk).update(
        status=Refund.Status.FAILED, iban=VALID_IBAN, account_holder="Grace Desk"
    )
    html = client.get(_url(refund)).content.decode()
    assert "could not be made" in html and 'name="iban"' in html
    response = client.post(
        _url(refund),
        {"action": "bank", "account_holder": "Grace Desk", "iban": "FR1420041010050500013M02606"},
    )
    assert response.status_code == 302
    refund.refresh_from_db()
    assert (refund.status, refund.iban, refund.attempt) == (
        Refund.Status.APPROVED,
        "FR1420041010050500013M02606",
        2,
    )


# --- Asking to cancel from the order page ---------------------------------------------


def test_the_order_page_links_to_the_cancel_request_and_lists_the_refunds(client):
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    page = client.get(reverse("ticketing:order_detail", kwargs={"token": order.access_token}))
    assert _cancel_url(order) in page.content.decode()
    refund = refund_request(order=order, ticket_ids=None)
    html = client.get(
        reverse("ticketing:order_detail", kwargs={"token": order.access_token})
    ).content.decode()
    assert _url(refund) in html
    assert "Requested" in html


def test_a_buyer_asks_to_cancel_one_of_two_tickets(client):
    # given a paid order of two tickets a week ahead
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    first, second = order.tickets.order_by("pk")
    page = client.get(_cancel_url(order))
    assert page.status_code == 200
    assert f'value="{first.pk}"' in page.content.decode()
    # when they tick one and give a reason
    response = client.post(
        _cancel_url(order), {"tickets": [first.pk], "reason": "We are ill."}, follow=True
    )
    # then a request waits for staff for that ticket only, and they land on its page
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.REQUESTED
    assert list(refund.tickets.all()) == [first]
    assert refund.buyer_reason == "We are ill."
    assert refund.paid_cents == 1400
    assert response.redirect_chain == [(_url(refund), 302)]
    assert "Your request was sent." in response.content.decode()
    assert OutboxEmail.objects.filter(dedupe_key=f"refunds.requested:{refund.pk}").exists()
    # and the cancel page now points to the waiting request, without a form
    again = client.get(_cancel_url(order)).content.decode()
    assert "already waiting" in again and 'name="tickets"' not in again


def test_no_ticket_ticked_keeps_the_reason_and_asks_for_one(client):
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=2)
    response = client.post(_cancel_url(order), {"reason": "Plans changed"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose at least one ticket to cancel." in html
    assert "Plans changed</textarea>" in html
    assert not Refund.objects.exists()


def test_a_ticket_of_another_order_is_refused(client):
    slot = visit_slot()
    order = cash_order(slot=slot, quantity=1)
    stranger = cash_order(slot=slot, quantity=1, email="stranger@example.org")
    response = client.post(_cancel_url(order), {"tickets": [stranger.tickets.get().pk]})
    assert response.status_code == 400
    assert "Some of these tickets were already used or cancelled." in response.content.decode()
    assert not Refund.objects.exists()


def test_after_the_cut_off_the_page_says_why_and_has_no_form(client, settings):
    # given tickets for tomorrow, with a cut-off of 48 hours
    settings.REFUNDS = {**settings.REFUNDS, "REQUEST_CUTOFF_HOURS": 48}
    slot = visit_slot(days_ahead=1)
    order = cash_order(slot=slot, quantity=1)
    # when the buyer opens the cancel page, or posts anyway
    page = client.get(_cancel_url(order))
    posted = client.post(_cancel_url(order), {"tickets": [order.tickets.get().pk]})
    # then they read why, see no form, and nothing is requested
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tickets can be cancelled up to 48 hours before the visit." in html
    assert 'name="tickets"' not in html
    assert posted.status_code == 400
    assert not Refund.objects.exists()
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_a_reseller_order_is_sent_back_to_the_partner(client):
    slot = visit_slot()
    order = reseller_order(slot=slot)
    html = client.get(_cancel_url(order)).content.decode()
    assert "bought from one of our partners" in html
    assert 'name="tickets"' not in html


def test_an_unknown_order_link_is_not_valid(client):
    response = client.get(reverse("refunds:order_cancel", kwargs={"token": "nope" * 5}))
    assert response.status_code == 404
    assert "This link is not valid" in response.content.decode()


def test_too_many_lookups_are_slowed_down(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "order_lookup": "2/10m"}
    url = reverse("refunds:refund", kwargs={"token": "guess"})
    assert [client.get(url).status_code for _ in range(3)] == [404, 404, 429]


def test_a_ticket_on_a_past_slot_is_listed_but_cannot_be_ticked(client, settings):
    # given an order with a ticket tomorrow and one a week ahead
    settings.REFUNDS = {**settings.REFUNDS, "REQUEST_CUTOFF_HOURS": 48}
    near = visit_slot(days_ahead=1)
    far = later_slot(near, days=6)
    order = cash_order(slot=near, quantity=1)
    ticket = order.tickets.get()
    # (a second ticket, a week ahead, in the same order)
    Ticket.objects.create(
        order=order,
        time_slot=far,
        ticket_type=ticket.ticket_type,
        price_cents=ticket.price_cents,
        vat_rate=ticket.vat_rate,
        status=Ticket.Status.VALID,
    )
    html = client.get(_cancel_url(order)).content.decode()
    assert f'value="{ticket.pk}" id="ticket-{ticket.pk}" disabled' in html
    response = client.post(_cancel_url(order), {"tickets": [ticket.pk]})
    assert response.status_code == 400
    assert not Refund.objects.exists()
    assert timezone.now() < near.starts_at < timezone.now() + dt.timedelta(hours=48)
