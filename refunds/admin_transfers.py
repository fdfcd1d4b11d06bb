"""Bank transfer files in the admin: the export of refunds due into one SEPA file, its
download, marking it paid, and one transfer sent back by the bank.

Registered by ``TransferBatchAdmin.get_urls`` in ``refunds/admin.py``, wrapped in
``admin_site.admin_view`` (staff login, second factor) and checked against one permission
each here. Every change goes through one service of ``refunds.services.transfers``; a
RefundError it raises becomes an admin message and nothing changes.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from privacy.access_log import access_record_listed
from refunds.admin_common import _error_text, _render, _require
from refunds.errors import RefundError
from refunds.models import Refund, TransferBatch


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
        emails=Refund.objects.filter(transfer_batch=batch).values_list(
            "order__buyer__email", flat=True
        ),
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
