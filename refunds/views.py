"""The buyer's refund pages, behind secret links: one refund, and the cancel request.

Thin: each POST calls one service of ``refunds.services.refunds``; the service's error is
put back on the form the buyer filled in, so they keep what they typed. An unknown or
altered link gets a plain "this link is not valid" page (404), never someone else's data.
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from museum.ratelimit import is_limited
from refunds.errors import RefundError
from refunds.forms import BankDetailsForm, CancelRequestForm, RebookForm
from refunds.models import Choice, Refund
from refunds.services.refunds import (
    OPEN_MONEY_STATES,
    rebook_slots,
    refund_bank_details_set,
    refund_choose,
    refund_request,
)
from ticketing import selectors as ticket_selectors
from ticketing.models import Order, Ticket

# The public links are looked up under the same limit as the order pages.
LOOKUP_SCOPE = "order_lookup"
TOKEN_MAX_LENGTH = 64

# Actions of the refund page's forms (the name of the pressed button's value).
ACTION_REFUND = "refund"
ACTION_REBOOK = "rebook"
ACTION_VOUCHER = "voucher"
ACTION_BANK = "bank"
CHOICE_ACTIONS = (ACTION_REFUND, ACTION_REBOOK, ACTION_VOUCHER)


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "ticketing/too_many.html", status=429)


def _link_invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "refunds/link_invalid.html", status=404)


def _refund_by_token(token: str) -> Refund | None:
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return (
        Refund.objects.select_related("order", "campaign", "order__site")
        .filter(token=token)
        .first()
    )


def masked_iban(iban: str) -> str:
    """Only the last four characters of an IBAN, the rest hidden: "•••• 7034"."""
    return f"•••• {iban[-4:]}" if iban else ""


def _bank_form_wanted(refund: Refund) -> bool:
    """The buyer is asked for an account: an approved bank refund without one, not yet in a
    transfer file, or a bank transfer that bounced."""
    if refund.method != Refund.Method.BANK_TRANSFER:
        return False
    if refund.status == Refund.Status.FAILED:
        return True
    return (
        refund.status == Refund.Status.APPROVED and not refund.iban and not refund.transfer_batch_id
    )


def _slots_by_day(refund: Refund) -> list[tuple[dt.date, list]]:
    slots = rebook_slots(refund)
    return [
        (day, list(group))
        for day, group in groupby(slots, key=lambda s: timezone.localtime(s.starts_at).date())
    ]


def _rebook_choice(request: HttpRequest, refund: Refund, selected_slot: str) -> dict:
    """The days with room for a new date, and the times of the one being looked at.

    Months of slots would make a page nobody can read: the buyer picks a day first (a
    plain GET form, no script), then a time; a slot already chosen keeps its day.
    """
    by_day = _slots_by_day(refund)
    days = [day for day, _slots in by_day]
    try:
        wanted = parse_date(request.GET.get("day", "")) if request.method == "GET" else None
    except ValueError:  # well-formed but impossible, e.g. 30 February
        wanted = None
    if wanted is None and selected_slot.isdigit():
        wanted = next(
            (day for day, slots in by_day if any(str(s.pk) == selected_slot for s in slots)),
            None,
        )
    if wanted not in days:
        wanted = days[0] if days else None
    return {
        "rebook_days": days,
        "rebook_day": wanted,
        "rebook_day_slots": dict(by_day).get(wanted, []) if wanted else [],
    }


def _refund_context(refund: Refund) -> dict:
    tickets = list(
        refund.tickets.select_related("time_slot", "time_slot__exhibition", "ticket_type").order_by(
            "time_slot__starts_at", "pk"
        )
    )
    campaign = refund.campaign
    voucher = getattr(refund, "voucher", None) if refund.status == Refund.Status.VOUCHER else None
    return {
        "refund": refund,
        "order": refund.order,
        "tickets": tickets,
        "voucher": voucher,
        "iban_masked": masked_iban(refund.iban),
        "is_bank": refund.method == Refund.Method.BANK_TRANSFER,
        "offered": refund.status == Refund.Status.OFFERED,
        "bank_form_wanted": _bank_form_wanted(refund),
        "reason": campaign.reason if campaign is not None else "",
        "default_choice": campaign.get_default_choice_display() if campaign is not None else "",
    }


@require_http_methods(["GET", "POST"])
def refund_page(request: HttpRequest, token: str) -> HttpResponse:
    """One refund behind its secret link: what was cancelled, its status, what comes next;
    the buyer's choice while it is offered, and their bank details when they are needed."""
    if is_limited(request, scope=LOOKUP_SCOPE):
        return _too_many(request)
    refund = _refund_by_token(token)
    if refund is None:
        return _link_invalid(request)

    action = request.POST.get("action", "") if request.method == "POST" else ""
    bank_form = BankDetailsForm(request.POST if action in (ACTION_REFUND, ACTION_BANK) else None)
    rebook_form = RebookForm(
        request.POST if action == ACTION_REBOOK else None,
        exhibition_id=_exhibition_of(refund),
    )
    already_chosen = ""
    error_action = ""

    if request.method == "POST":
        if action in CHOICE_ACTIONS and refund.status != Refund.Status.OFFERED:
            # A second click, a second tab, or the back button: the first answer stands.
            already_chosen = _("You have already chosen; this offer is closed.")
        elif action == ACTION_BANK and not (
            _bank_form_wanted(refund) or refund.status == Refund.Status.OFFERED
        ):
            already_chosen = (
                _("We already have your bank details; nothing was changed.")
                if refund.iban
                else str(RefundError.default_message)
            )
        elif action in CHOICE_ACTIONS or action == ACTION_BANK:
            done = _handle(request, refund, action, bank_form=bank_form, rebook_form=rebook_form)
            if done:
                return redirect("refunds:refund", token=refund.token)
            error_action = action
        else:
            already_chosen = _("Choose one of the options.")

    context = _refund_context(refund)
    context.update(
        bank_form=bank_form,
        rebook_form=rebook_form,
        already_chosen=already_chosen,
        error_action=error_action,
        selected_slot=str(rebook_form["time_slot"].value() or ""),
    )
    if context["offered"]:
        context.update(_rebook_choice(request, refund, context["selected_slot"]))
    status = 400 if (already_chosen or error_action) else 200
    return render(request, "refunds/refund.html", context, status=status)


def _exhibition_of(refund: Refund) -> int | None:
    ticket = refund.tickets.select_related("time_slot").first()
    return ticket.time_slot.exhibition_id if ticket else None


def _handle(
    request: HttpRequest,
    refund: Refund,
    action: str,
    *,
    bank_form: BankDetailsForm,
    rebook_form: RebookForm,
) -> bool:
    """Run the one service the pressed button asks for; True when it went through."""
    try:
        if action == ACTION_BANK or (
            action == ACTION_REFUND and refund.method == Refund.Method.BANK_TRANSFER
        ):
            if not bank_form.is_valid():
                return False
            refund_bank_details_set(
                refund=refund,
                account_holder=bank_form.cleaned_data["account_holder"],
                iban=bank_form.cleaned_data["iban"],
                bic=bank_form.cleaned_data["bic"],
            )
            if action == ACTION_REFUND:
                messages.success(
                    request,
                    _("Thank you. Your refund is approved and will be paid to this account."),
                )
            else:
                messages.success(request, _("Thank you. We will pay the refund to this account."))
        elif action == ACTION_REFUND:
            refund_choose(refund=refund, choice=Choice.REFUND)
            messages.success(request, _("Thank you. Your refund is on its way."))
        elif action == ACTION_VOUCHER:
            refund_choose(refund=refund, choice=Choice.VOUCHER)
            messages.success(request, _("Thank you. Your voucher has been sent to you by e-mail."))
        else:
            if not rebook_form.is_valid():
                return False
            refund_choose(
                refund=refund,
                choice=Choice.REBOOK,
                time_slot=rebook_form.cleaned_data["time_slot"],
            )
            messages.success(
                request,
                _("Your visit has been moved. Your new tickets are on their way by e-mail."),
            )
    except ValidationError as exc:
        bank_form.add_service_error(exc)
        return False
    except RefundError as exc:
        form = rebook_form if action == ACTION_REBOOK else bank_form
        form.add_service_error(exc)
        refund.refresh_from_db()
        return False
    return True


def _cancellable_tickets(order: Order) -> QuerySet[Ticket]:
    """Tickets of ``order`` a cancel request may name (``refund_request`` checks again)."""
    return (
        order.tickets.select_related("time_slot", "time_slot__exhibition", "ticket_type")
        .filter(status=Ticket.Status.VALID, checked_in_at__isnull=True)
        .exclude(refunds__status__in=[Refund.Status.REQUESTED, *OPEN_MONEY_STATES])
        .order_by("time_slot__starts_at", "pk")
        .distinct()
    )


def _why_not_cancellable(order: Order, tickets: list[Ticket], now: dt.datetime) -> str:
    """Why the cancel form is not shown (empty when it is), in the buyer's words."""
    if order.status != Order.Status.PAID or order.channel == Order.Channel.RESELLER:
        if order.channel == Order.Channel.RESELLER:
            return _(
                "These tickets were bought from one of our partners: please ask them to cancel."
            )
        return _("This order cannot be cancelled here.")
    if not tickets:
        return _("No ticket of this order can still be cancelled.")
    hours = settings.REFUNDS["REQUEST_CUTOFF_HOURS"]
    if all(now > t.time_slot.starts_at - dt.timedelta(hours=hours) for t in tickets):
        return _("Tickets can be cancelled up to %(hours)d hours before the visit.") % {
            "hours": hours
        }
    return ""


@require_http_methods(["GET", "POST"])
def order_cancel_request(request: HttpRequest, token: str) -> HttpResponse:
    """From the order page: choose the tickets to cancel and ask the museum to refund them."""
    if is_limited(request, scope=LOOKUP_SCOPE):
        return _too_many(request)
    order = ticket_selectors.order_get_by_token(token)
    if order is None:
        return _link_invalid(request)
    now = timezone.now()
    waiting = order.refunds.filter(status=Refund.Status.REQUESTED).first()
    hours = settings.REFUNDS["REQUEST_CUTOFF_HOURS"]
    cutoff = dt.timedelta(hours=hours)
    candidates = _cancellable_tickets(order)
    # Tickets past the cut-off are listed but cannot be ticked.
    open_ids = [t.pk for t in candidates if now <= t.time_slot.starts_at - cutoff]
    tickets = list(candidates)
    form = CancelRequestForm(
        request.POST if request.method == "POST" else None,
        tickets=candidates.filter(pk__in=open_ids),
    )
    not_possible = "" if waiting else _why_not_cancellable(order, tickets, now)
    status = 200
    if request.method == "POST" and not waiting and not not_possible:
        if form.is_valid():
            try:
                refund = refund_request(
                    order=order,
                    ticket_ids=[t.pk for t in form.cleaned_data["tickets"]],
                    reason=form.cleaned_data["reason"],
                )
            except RefundError as exc:
                form.add_service_error(exc)
            else:
                messages.success(
                    request,
                    _("Your request was sent. We will answer it by e-mail; this page follows it."),
                )
                return redirect("refunds:refund", token=refund.token)
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "refunds/order_cancel.html",
        {
            "order": order,
            "tickets": tickets,
            "open_ids": open_ids,
            "form": form,
            "waiting": waiting,
            "not_possible": not_possible,
            "cutoff_hours": hours,
        },
        status=status,
    )
