"""A cancellation campaign's admin pages: its preview, run, progress, retry of failed
orders, and what it came to (the totals on its read-only page).

Registered by ``CampaignAdmin.get_urls`` in ``refunds/admin.py``, wrapped in
``admin_site.admin_view`` (staff login, second factor) and checked against one permission
each here. Every change goes through one service of ``refunds.services.campaigns``; a
RefundError it raises becomes an admin message and nothing changes.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from refunds.admin_common import _error_text, _render, _require
from refunds.errors import RefundError
from refunds.models import Campaign, CampaignOrder, CardExtension, Refund, Voucher
from refunds.services.campaigns import (
    campaign_preview,
    campaign_progress,
    campaign_retry_failed,
    campaign_start,
)
from ticketing.models import Order


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
