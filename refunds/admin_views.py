"""The refunds' own admin pages: a campaign's preview, run and progress, deciding a refund,
the bank transfer file, and the refunds report.

Registered by the ModelAdmins in ``refunds/admin.py`` (``get_urls``), wrapped in
``admin_site.admin_view`` (staff login, second factor) and checked against one permission
each here. Every change goes through one service of ``refunds.services``; a RefundError or
a ValidationError it raises becomes an admin message and nothing changes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from museum.models import AuditEvent
from privacy.access_log import access_record_listed
from refunds.errors import RefundError
from refunds.models import Campaign, CampaignOrder, CardExtension, Refund, TransferBatch, Voucher
from refunds.services.campaigns import (
    campaign_preview,
    campaign_progress,
    campaign_retry_failed,
    campaign_start,
)
from refunds.services.refunds import (
    refund_approve,
    refund_bank_details_set,
    refund_paid_at_desk,
    refund_refuse,
    refund_retry,
    refund_switch_to_bank,
)
from ticketing.models import Order

REPORT_MONTHS = 12


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _render(
    request: HttpRequest, admin_site: AdminSite, template: str, title: str, context: dict
) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**admin_site.each_context(request), "title": title, **context},
    )


def _error_text(error: Exception) -> str:
    """What a service said no with, as one line for an admin message."""
    if isinstance(error, RefundError):
        return str(error.message)
    if isinstance(error, ValidationError):
        return " ".join(str(m) for m in error.messages)
    return str(error)


def mask_iban(iban: str) -> str:
    """An IBAN shown in lists: its country and its last four characters only."""
    if not iban:
        return ""
    return f"{iban[:2]}•• •••• {iban[-4:]}"


# --- Campaigns -------------------------------------------------------------------------


def campaign_preview_page(
    request: HttpRequest, *, campaign_id: int, admin_site: AdminSite
) -> HttpResponse:
    """What running the campaign would do, with the "Run" button (nothing changes here)."""
    _require(request, "refunds.view_campaign")
    campaign = get_object_or_404(
        Campaign.objects.select_related("site", "exhibition", "time_slot"), pk=campaign_id
    )
    if campaign.status != Campaign.Status.DRAFT:
        return HttpResponseRedirect(reverse("admin:refunds_campaign_progress", args=[campaign.pk]))
    preview = campaign_preview(campaign=campaign)
    methods = dict(Refund.Method.choices)
    channels = dict(Order.Channel.choices)
    return _render(
        request,
        admin_site,
        "admin/refunds/campaign_preview.html",
        _("Preview of the cancellation"),
        {
            "campaign": campaign,
            "opts": Campaign._meta,
            "preview": preview,
            "by_channel": [
                (channels.get(key, key), totals) for key, totals in preview.by_channel.items()
            ],
            "by_method": [
                (methods.get(key, key), totals) for key, totals in preview.by_method.items()
            ],
            "sample": [
                {
                    **row,
                    "method_label": methods.get(row.get("method", ""), ""),
                    "channel_label": channels.get(row["channel"], row["channel"]),
                }
                for row in preview.sample
            ],
            "can_run": request.user.has_perm("refunds.run_campaign"),
        },
    )


def campaign_run(request: HttpRequest, *, campaign_id: int) -> HttpResponse:
    """POST: start the campaign (``campaign_start``), then show its progress."""
    _require(request, "refunds.view_campaign", "refunds.run_campaign")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        campaign_start(campaign=campaign, actor=request.user)
    except RefundError as error:
        messages.error(request, _error_text(error))
        return HttpResponseRedirect(reverse("admin:refunds_campaign_preview", args=[campaign.pk]))
    messages.success(
        request, _("The cancellation has started: the sale stopped and buyers are told.")
    )
    return HttpResponseRedirect(reverse("admin:refunds_campaign_progress", args=[campaign.pk]))


PROGRESS_BAR_WIDTH = 600


def _progress_payload(campaign: Campaign) -> dict:
    progress = campaign_progress(campaign)
    handled = progress["done"] + progress["failed"]
    total = progress["total"]
    percent = round(100 * handled / total) if total else 100
    return {
        **progress,
        "percent": percent,
        "status": campaign.status,
        "status_label": str(campaign.get_status_display()),
        "finished": campaign.status in (Campaign.Status.DONE, Campaign.Status.FAILED),
    }


def campaign_progress_page(
    request: HttpRequest, *, campaign_id: int, admin_site: AdminSite
) -> HttpResponse:
    """The run's progress bar (refreshed by a small script), its failed orders and a retry."""
    _require(request, "refunds.view_campaign")
    campaign = get_object_or_404(Campaign.objects.select_related("site"), pk=campaign_id)
    if campaign.status == Campaign.Status.DRAFT:
        return HttpResponseRedirect(reverse("admin:refunds_campaign_preview", args=[campaign.pk]))
    failed = list(
        CampaignOrder.objects.filter(campaign=campaign, status=CampaignOrder.Status.FAILED)
        .select_related("order")
        .order_by("order_id")[:200]
    )
    progress = _progress_payload(campaign)
    total = progress["total"]
    return _render(
        request,
        admin_site,
        "admin/refunds/campaign_progress.html",
        _("Cancellation in progress"),
        {
            "campaign": campaign,
            "opts": Campaign._meta,
            "progress": progress,
            "bar": {
                "done": round(PROGRESS_BAR_WIDTH * progress["done"] / total) if total else 0,
                "failed": round(PROGRESS_BAR_WIDTH * progress["failed"] / total) if total else 0,
            },
            "failed": failed,
            "can_run": request.user.has_perm("refunds.run_campaign"),
        },
    )


def campaign_retry(request: HttpRequest, *, campaign_id: int) -> HttpResponse:
    """POST: put the failed orders back in the queue (``campaign_retry_failed``)."""
    _require(request, "refunds.view_campaign", "refunds.run_campaign")
    campaign = get_object_or_404(Campaign, pk=campaign_id)
    try:
        count = campaign_retry_failed(campaign=campaign, actor=request.user)
    except RefundError as error:
        messages.error(request, _error_text(error))
    else:
        if count:
            messages.success(
                request,
                ngettext(
                    "%(n)d failed order is tried again.",
                    "%(n)d failed orders are tried again.",
                    count,
                )
                % {"n": count},
            )
        else:
            messages.info(request, _("No order had failed; nothing changed."))
    return HttpResponseRedirect(reverse("admin:refunds_campaign_progress", args=[campaign.pk]))


def campaign_totals(campaign: Campaign) -> dict:
    """What a campaign came to: refunds per status and per method with their amounts,
    vouchers, new dates and card extensions (three aggregate queries)."""
    rows = list(
        Refund.objects.filter(campaign=campaign)
        .values("status", "method")
        .annotate(n=Count("pk"), amount=Sum("amount_cents"), paid=Sum("paid_cents"))
        .order_by("status", "method")
    )
    statuses = dict(Refund.Status.choices)
    methods = dict(Refund.Method.choices)
    by_status: dict[str, dict] = {}
    by_method: dict[str, dict] = {}
    for row in rows:
        for bucket, key, labels in (
            (by_status, row["status"], statuses),
            (by_method, row["method"], methods),
        ):
            entry = bucket.setdefault(key, {"label": labels.get(key, key), "n": 0, "amount": 0})
            entry["n"] += row["n"]
            entry["amount"] += row["amount"] or 0
    vouchers = Voucher.objects.filter(refund__campaign=campaign).aggregate(
        n=Count("pk"), amount=Sum("amount_cents")
    )
    extensions = CardExtension.objects.filter(campaign=campaign).aggregate(
        n=Count("pk"), days=Sum("days")
    )
    return {
        "by_status": list(by_status.values()),
        "by_method": list(by_method.values()),
        "refunds": sum(row["n"] for row in rows),
        "vouchers": vouchers["n"],
        "vouchers_cents": vouchers["amount"] or 0,
        "rebooked": by_status.get(Refund.Status.REBOOKED, {}).get("n", 0),
        "cards_extended": extensions["n"],
        "card_days": extensions["days"] or 0,
    }


# --- One refund's decisions --------------------------------------------------------------


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


# --- Bank transfer files --------------------------------------------------------------------


class ExportForm(forms.Form):
    execution_date = forms.DateField(
        label=gettext_lazy("Requested execution date"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Empty: today (the Monday after, on a weekend)."),
    )


def transfers_export(request: HttpRequest, *, admin_site: AdminSite) -> HttpResponse:
    """The refunds due by bank transfer (GET) and their export into one SEPA file (POST)."""
    _require(request, "refunds.view_transferbatch", "refunds.export_transfers")
    from refunds.services.transfers import transfer_batch_export, transfers_due

    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            batch = transfer_batch_export(
                actor=request.user, execution_date=form.cleaned_data["execution_date"]
            )
        except RefundError as error:
            messages.error(request, _error_text(error))
        else:
            if batch is None:
                messages.info(request, _("No refund is due by bank transfer; no file was made."))
                return HttpResponseRedirect(reverse("admin:refunds_transferbatch_changelist"))
            messages.success(
                request,
                ngettext(
                    "File %(id)s made with %(n)d transfer: download it for the bank.",
                    "File %(id)s made with %(n)d transfers: download it for the bank.",
                    batch.count,
                )
                % {"id": batch.message_id, "n": batch.count},
            )
            return HttpResponseRedirect(
                reverse("admin:refunds_transferbatch_change", args=[batch.pk])
            )
    due = transfers_due().aggregate(n=Count("pk"), total=Sum("amount_cents"))
    waiting = (
        Refund.objects.filter(
            method=Refund.Method.BANK_TRANSFER,
            status=Refund.Status.APPROVED,
            transfer_batch__isnull=True,
        )
        .filter(Q(iban="") | Q(account_holder=""))
        .count()
    )
    return _render(
        request,
        admin_site,
        "admin/refunds/transfers_export.html",
        _("Export bank transfers"),
        {
            "form": form,
            "due": due["n"],
            "due_cents": due["total"] or 0,
            "waiting_for_details": waiting,
            "opts": TransferBatch._meta,
        },
    )


def transfer_batch_download(request: HttpRequest, *, batch_id: int) -> HttpResponse:
    """The batch's pain.001 file as an attachment named after its message id."""
    _require(request, "refunds.view_transferbatch", "refunds.export_transfers")
    batch = get_object_or_404(TransferBatch, pk=batch_id)
    response = HttpResponse(batch.xml, content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch.message_id}.xml"'
    response["Cache-Control"] = "no-store"
    # The file names the buyers and their accounts: a staff view of their data.
    access_record_listed(
        request=request,
        model=Refund,
        emails=Refund.objects.filter(transfer_batch=batch).values_list("order__email", flat=True),
    )
    return response


@require_POST
def transfer_batch_paid(request: HttpRequest, *, batch_id: int) -> HttpResponse:
    """POST: the bank paid the file (``transfer_batch_mark_paid``)."""
    _require(request, "refunds.view_transferbatch", "refunds.export_transfers")
    from refunds.services.transfers import transfer_batch_mark_paid

    batch = get_object_or_404(TransferBatch, pk=batch_id)
    try:
        transfer_batch_mark_paid(batch=batch, actor=request.user)
    except RefundError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("The file is marked paid; its transfers are paid back."))
    return HttpResponseRedirect(reverse("admin:refunds_transferbatch_change", args=[batch.pk]))


@require_POST
def transfer_bounced(request: HttpRequest, *, batch_id: int, refund_id: int) -> HttpResponse:
    """POST: the bank sent one transfer of the file back (``transfer_batch_reject_transfer``)."""
    _require(request, "refunds.view_transferbatch", "refunds.export_transfers")
    from refunds.services.transfers import transfer_batch_reject_transfer

    refund = get_object_or_404(Refund, pk=refund_id, transfer_batch_id=batch_id)
    try:
        transfer_batch_reject_transfer(
            refund=refund, reason=request.POST.get("reason", ""), actor=request.user
        )
    except RefundError as error:
        messages.error(request, f"{refund.order.code}: {_error_text(error)}")
    else:
        messages.success(
            request,
            _("The transfer of order %(code)s is marked as sent back by the bank.")
            % {"code": refund.order.code},
        )
    return HttpResponseRedirect(reverse("admin:refunds_transferbatch_change", args=[batch_id]))


# --- Report ----------------------------------------------------------------------------------


# Refunds that were approved: money owed, on its way, paid back, or failed.
REPORTED = (
    Refund.Status.APPROVED,
    Refund.Status.SENT,
    Refund.Status.SUCCEEDED,
    Refund.Status.FAILED,
)


def _month(value: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(f"{value}-01")
    except ValueError:
        return default


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def refunds_report_rows(*, first: dt.date, last: dt.date) -> list[dict]:
    """Approved refunds per month of approval × channel × method: count, amounts (one query).

    ``first`` and ``last`` are first days of months; ``last``'s month is included.
    """
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
    end = dt.datetime.combine(_add_months(last, 1), dt.time(), tzinfo=tz)
    rows = (
        Refund.objects.filter(status__in=REPORTED, approved_at__gte=start, approved_at__lt=end)
        .annotate(month=TruncMonth("approved_at", tzinfo=tz), channel=F("order__channel"))
        .values("month", "channel", "method")
        .annotate(
            n=Count("pk"),
            amount=Sum("amount_cents"),
            fee=Sum("fee_cents"),
            paid_back=Sum("amount_cents", filter=Q(status=Refund.Status.SUCCEEDED)),
        )
        .order_by("month", "channel", "method")
    )
    return [dict(row) for row in rows]


def refunds_report(request: HttpRequest, *, admin_site: AdminSite) -> HttpResponse:
    """Managers' report: refunds per month, channel and method, with a period filter."""
    _require(request, "refunds.view_refund", "ticketing.view_payment")
    this_month = timezone.localdate().replace(day=1)
    last = _month(request.GET.get("to", ""), this_month)
    first = _month(request.GET.get("from", ""), _add_months(last, 1 - REPORT_MONTHS))
    if first > last:
        first, last = last, first
    rows = refunds_report_rows(first=first, last=last)
    channels = dict(Order.Channel.choices)
    methods = dict(Refund.Method.choices)
    for row in rows:
        row["channel_label"] = channels.get(row["channel"], row["channel"])
        row["method_label"] = methods.get(row["method"], row["method"])
        row["paid_back"] = row["paid_back"] or 0
    totals = {
        "n": sum(r["n"] for r in rows),
        "amount": sum(r["amount"] or 0 for r in rows),
        "fee": sum(r["fee"] or 0 for r in rows),
        "paid_back": sum(r["paid_back"] for r in rows),
    }
    return _render(
        request,
        admin_site,
        "admin/refunds/report.html",
        _("Refunds report"),
        {
            "rows": rows,
            "totals": totals,
            "first": first,
            "last": last,
            "opts": Refund._meta,
        },
    )
