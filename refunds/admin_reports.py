"""The managers' refunds report in the admin: approved refunds per month, channel and
method over a period (read only).

Registered by ``RefundAdmin.get_urls`` in ``refunds/admin.py``, wrapped in
``admin_site.admin_view`` (staff login, second factor) and checked against its
permissions here.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.admin import AdminSite
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from refunds.admin_common import _render, _require
from refunds.models import Refund
from ticketing.models import Order

REPORT_MONTHS = 12


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
