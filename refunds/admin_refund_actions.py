"""One refund's decisions in the admin: approve, refuse, try again, pay by bank transfer
instead, paid in cash at the desk, the buyer's bank details; the buttons its page shows
and its audit trail.

Registered by ``RefundAdmin.get_urls`` in ``refunds/admin.py``, wrapped in
``admin_site.admin_view`` (staff login, second factor) and checked against one permission
each here. Every change goes through one service of ``refunds.services.refunds``; a
RefundError or a ValidationError it raises becomes an admin message and nothing changes.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from museum.models import AuditEvent
from refunds.admin_common import _error_text, _render, _require
from refunds.errors import RefundError
from refunds.models import Refund
from refunds.services.refunds import (
    refund_approve,
    refund_bank_details_set,
    refund_paid_at_desk,
    refund_refuse,
    refund_retry,
    refund_switch_to_bank,
)


class EurosField(forms.DecimalField):
    """An amount typed in euros (two decimals at most), handed on in cents."""

    def __init__(self, **kwargs) -> None:
        super().__init__(min_value=Decimal("0"), max_digits=9, decimal_places=2, **kwargs)


def _cents(value: Decimal | None) -> int | None:
    return None if value is None else int((value * 100).to_integral_value())


class ApproveForm(forms.Form):
    amount = EurosField(
        label=gettext_lazy("Amount to pay back (€)"),
        required=False,
        help_text=gettext_lazy("Leave empty to pay back what was paid, minus the fee."),
    )
    fee = EurosField(label=gettext_lazy("Fee kept (€)"), required=False, initial=Decimal("0"))

    def __init__(self, *args, refund: Refund, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refund = refund

    def clean(self):
        data = super().clean()
        amount = _cents(data.get("amount"))
        fee = _cents(data.get("fee")) or 0
        paid = self.refund.paid_cents
        if fee > paid:
            self.add_error("fee", _("The fee cannot be more than what was paid."))
        elif amount is not None and amount + fee > paid:
            self.add_error(
                "amount",
                _("At most %(max).2f can be paid back (%(paid).2f paid, minus the fee).")
                % {"max": (paid - fee) / 100, "paid": paid / 100},
            )
        data["amount_cents"] = amount
        data["fee_cents"] = fee
        return data


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why it is refused (the buyer reads it)"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class BankDetailsForm(forms.Form):
    account_holder = forms.CharField(label=gettext_lazy("Account holder"), max_length=70)
    iban = forms.CharField(label=gettext_lazy("IBAN"), max_length=50)
    bic = forms.CharField(label=gettext_lazy("BIC (optional)"), max_length=20, required=False)


# action name -> (form class or None, permission, service call, success message)
def _approve(refund: Refund, request: HttpRequest, data: dict) -> Refund:
    return refund_approve(
        refund=refund,
        actor=request.user,
        amount_cents=data["amount_cents"],
        fee_cents=data["fee_cents"],
    )


def _refuse(refund: Refund, request: HttpRequest, data: dict) -> Refund:
    return refund_refuse(refund=refund, actor=request.user, reason=data["reason"])


def _bank(refund: Refund, request: HttpRequest, data: dict) -> Refund:
    return refund_bank_details_set(
        refund=refund,
        account_holder=data["account_holder"],
        iban=data["iban"],
        bic=data.get("bic", ""),
        actor=request.user,
    )


REFUND_ACTIONS: dict[str, dict] = {
    "approve": {
        "form": ApproveForm,
        "perm": "refunds.decide_refund",
        "call": _approve,
        "title": gettext_lazy("Approve the refund"),
        "done": gettext_lazy("The refund was approved."),
    },
    "refuse": {
        "form": RefuseForm,
        "perm": "refunds.decide_refund",
        "call": _refuse,
        "title": gettext_lazy("Refuse the request"),
        "done": gettext_lazy("The request was refused; the buyer is told why."),
    },
    "bank": {
        "form": BankDetailsForm,
        "perm": "refunds.change_refund",
        "call": _bank,
        "title": gettext_lazy("Enter the buyer's bank details"),
        "done": gettext_lazy("The bank details were saved."),
    },
    "retry": {
        "form": None,
        "perm": "refunds.decide_refund",
        "call": lambda refund, request, data: refund_retry(refund=refund, actor=request.user),
        "title": gettext_lazy("Try again"),
        "done": gettext_lazy("The refund is tried again."),
    },
    "to_bank": {
        "form": None,
        "perm": "refunds.decide_refund",
        "call": lambda refund, request, data: refund_switch_to_bank(
            refund=refund, actor=request.user
        ),
        "title": gettext_lazy("Pay by bank transfer instead"),
        "done": gettext_lazy(
            "The refund will be paid by bank transfer; the buyer is asked for an account."
        ),
    },
    "cash": {
        "form": None,
        "perm": "refunds.change_refund",
        "call": lambda refund, request, data: refund_paid_at_desk(
            refund=refund, actor=request.user
        ),
        "title": gettext_lazy("Paid in cash at the desk"),
        "done": gettext_lazy("The refund is recorded as paid in cash at the desk."),
    },
}


def refund_actions_for(request: HttpRequest, refund: Refund) -> list[str]:
    """The buttons to show on a refund's page: the actions its state and the user allow."""
    status, method = refund.status, refund.method
    allowed = []
    if status == Refund.Status.REQUESTED:
        allowed += ["approve", "refuse"]
    if status == Refund.Status.FAILED:
        allowed.append("retry")
        if method in (Refund.Method.STRIPE, Refund.Method.DEMO):
            allowed.append("to_bank")
    if method == Refund.Method.BANK_TRANSFER and (
        status in (Refund.Status.REQUESTED, Refund.Status.OFFERED, Refund.Status.FAILED)
        or (status == Refund.Status.APPROVED and not refund.transfer_batch_id)
    ):
        allowed.append("bank")
    if (
        method == Refund.Method.BANK_TRANSFER
        and status in (Refund.Status.APPROVED, Refund.Status.FAILED)
        and not refund.transfer_batch_id
    ):
        allowed.append("cash")
    return [name for name in allowed if request.user.has_perm(REFUND_ACTIONS[name]["perm"])]


def refund_action(
    request: HttpRequest, *, refund_id: int, action: str, admin_site: AdminSite
) -> HttpResponse:
    """One decision on a refund: a form page (GET) and its POST, or a button's POST."""
    spec = REFUND_ACTIONS.get(action)
    if spec is None:
        raise PermissionDenied
    _require(request, "refunds.view_refund", spec["perm"])
    refund = get_object_or_404(Refund.objects.select_related("order"), pk=refund_id)
    change_url = reverse("admin:refunds_refund_change", args=[refund.pk])
    form_class = spec["form"]
    if form_class is None and request.method != "POST":
        return HttpResponseRedirect(change_url)
    form = None
    if form_class is not None:
        kwargs = {"refund": refund} if form_class is ApproveForm else {}
        form = form_class(request.POST if request.method == "POST" else None, **kwargs)
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            spec["call"](refund, request, form.cleaned_data if form is not None else {})
        except (RefundError, ValidationError) as error:
            messages.error(request, _error_text(error))
            if form is None:
                return HttpResponseRedirect(change_url)
        else:
            messages.success(request, str(spec["done"]))
            return HttpResponseRedirect(change_url)
    return _render(
        request,
        admin_site,
        "admin/refunds/refund/action.html",
        str(spec["title"]),
        {"refund": refund, "form": form, "opts": Refund._meta, "change_url": change_url},
    )


def refund_audit_trail(refund: Refund) -> list[AuditEvent]:
    """The refund's audit events, oldest first (one query)."""
    return list(
        AuditEvent.objects.filter(subject_type="refunds.refund", subject_id=str(refund.pk))
        .select_related("actor")
        .order_by("occurred_at", "pk")
    )
