"""The front desk's and managers' own admin pages: Today, Sell at the desk, Sales.

Registered by the ModelAdmins in ``ticketing/admin.py`` (``get_urls``), wrapped in
``admin_site.admin_view`` (staff login) and checked against one permission each here.
They read through ``ticketing.services.desk`` and sell through ``order_place``, the same
service as the web shop (with a voucher: ``refunds.services.vouchers.desk_sale_place``).
"""

from __future__ import annotations

import datetime as dt
from itertools import groupby

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from refunds.errors import RefundError
from refunds.services.vouchers import desk_sale_place
from ticketing import selectors
from ticketing.documents import order_pdf
from ticketing.errors import TicketingError
from ticketing.models import Order, TicketType, TimeSlot
from ticketing.services.desk import day_board, sales_per_day, slot_occupancy_list
from ticketing.services.orders import MAX_TICKETS_PER_ORDER, OrderLine

# How far ahead the desk sells: today and the next six days.
DESK_SALE_DAYS = 7
SALES_DAYS = 30


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def _render(
    request: HttpRequest, admin_site: AdminSite, template: str, title: str, context: dict
) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**admin_site.each_context(request), "title": title, **context},
    )


def _day_from(request: HttpRequest, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return default


def today(request: HttpRequest, *, admin_site: AdminSite) -> HttpResponse:
    """Today's slots per site: capacity, sold, held, checked in, free (one query)."""
    _require(request, "ticketing.view_timeslot")
    now = timezone.now()
    current = timezone.localdate(now)
    day = _day_from(request, current)
    return _render(
        request,
        admin_site,
        "admin/ticketing/today.html",
        _("Today at the museum") if day == current else _("Day at the museum"),
        {
            "day": day,
            "is_today": day == current,
            "previous_day": day - dt.timedelta(days=1),
            "next_day": day + dt.timedelta(days=1),
            "boards": day_board(day=day, now=now),
            "can_sell": request.user.has_perm("ticketing.sell_at_desk"),
        },
    )


class DeskSaleForm(forms.Form):
    """Quantities per ticket type of one slot, the buyer (optional) and how they pay."""

    name = forms.CharField(label=gettext_lazy("Buyer's name"), max_length=200, required=False)
    email = forms.EmailField(
        label=gettext_lazy("E-mail for the tickets"),
        required=False,
        help_text=gettext_lazy("Optional: the tickets are e-mailed when one is given."),
    )
    language = forms.ChoiceField(label=gettext_lazy("Language of the tickets"))
    payment_method = forms.ChoiceField(
        label=gettext_lazy("Paid by"),
        choices=[
            (Order.PaymentMethod.CASH, Order.PaymentMethod.CASH.label),
            (Order.PaymentMethod.CARD_TERMINAL, Order.PaymentMethod.CARD_TERMINAL.label),
        ],
        widget=forms.RadioSelect,
        initial=Order.PaymentMethod.CASH,
    )
    voucher_code = forms.CharField(
        label=gettext_lazy("Voucher code"),
        max_length=40,
        required=False,
        help_text=gettext_lazy(
            "Optional: the voucher pays what it can; the rest is collected as chosen above."
        ),
    )

    def __init__(self, *args, ticket_types: list[TicketType], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ticket_types = ticket_types
        language = self.fields["language"]
        assert isinstance(language, forms.ChoiceField)
        language.choices = settings.LANGUAGES
        language.initial = translation.get_language()
        for ticket_type in ticket_types:
            self.fields[f"qty_{ticket_type.pk}"] = forms.IntegerField(
                label=ticket_type.name,
                min_value=0,
                max_value=MAX_TICKETS_PER_ORDER,
                required=False,
                initial=0,
            )

    def quantity_fields(self):
        return [(ticket_type, self[f"qty_{ticket_type.pk}"]) for ticket_type in self.ticket_types]

    def lines(self, slot: TimeSlot) -> list[OrderLine]:
        return [
            OrderLine(slot.pk, ticket_type.pk, self.cleaned_data.get(f"qty_{ticket_type.pk}") or 0)
            for ticket_type in self.ticket_types
        ]


def _desk_slots(now: dt.datetime):
    """Slots the desk may sell: from now until the end of the last desk day."""
    _, end = selectors.site_day_bounds(
        timezone.localdate(now) + dt.timedelta(days=DESK_SALE_DAYS - 1)
    )
    return TimeSlot.objects.filter(
        is_cancelled=False,
        ends_at__gt=now,
        starts_at__lt=end,
        site__is_active=True,
        exhibition__is_active=True,
    ).order_by("starts_at", "site__position", "exhibition__position")


def desk_sell(request: HttpRequest, *, admin_site: AdminSite) -> HttpResponse:
    """Choose a slot, then sell tickets in it paid at the desk (cash or card terminal),
    partly or fully with a voucher."""
    _require(request, "ticketing.sell_at_desk")
    now = timezone.now()
    slot_id = request.POST.get("slot") or request.GET.get("slot")
    if not slot_id:
        rows = slot_occupancy_list(_desk_slots(now), now=now)
        days = [
            (day, list(day_rows))
            for day, day_rows in groupby(
                rows, key=lambda r: timezone.localtime(r.slot.starts_at).date()
            )
        ]
        return _render(
            request,
            admin_site,
            "admin/ticketing/desk_choose_slot.html",
            _("Sell at the desk"),
            {"days": days},
        )
    if not str(slot_id).isdigit():
        raise Http404
    slot = get_object_or_404(_desk_slots(now).select_related("site", "exhibition"), pk=slot_id)
    ticket_types = selectors.ticket_types_for_exhibition(slot.exhibition)
    if request.method == "POST":
        form = DeskSaleForm(request.POST, ticket_types=ticket_types)
        if form.is_valid():
            try:
                # The sale and the voucher in one transaction: a refused voucher sells nothing.
                order = desk_sale_place(
                    voucher_code=form.cleaned_data["voucher_code"],
                    lines=form.lines(slot),
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"],
                    language=form.cleaned_data["language"],
                    created_by=request.user,
                    payment_method=form.cleaned_data["payment_method"],
                )
            except TicketingError as error:
                form.add_error(None, error.message)
            except RefundError as error:
                form.add_error("voucher_code", error.message)
            else:
                issued = order.tickets.count()
                messages.success(
                    request,
                    ngettext(
                        "Order %(code)s is paid: %(n)d ticket issued.",
                        "Order %(code)s is paid: %(n)d tickets issued.",
                        issued,
                    )
                    % {"code": order.code, "n": issued},
                )
                return HttpResponseRedirect(reverse("admin:ticketing_order_sold", args=[order.pk]))
    else:
        form = DeskSaleForm(ticket_types=ticket_types)
    occupancy = slot_occupancy_list(TimeSlot.objects.filter(pk=slot.pk), now=now)[0]
    return _render(
        request,
        admin_site,
        "admin/ticketing/desk_sell.html",
        _("Sell at the desk"),
        {"slot": slot, "occupancy": occupancy, "form": form},
    )


def desk_sold(request: HttpRequest, *, order_id: int, admin_site: AdminSite) -> HttpResponse:
    """What was just sold: the amount to collect, the tickets and a link to print them."""
    _require(request, "ticketing.sell_at_desk")
    order = get_object_or_404(
        Order.objects.select_related("site"), pk=order_id, channel=Order.Channel.DESK
    )
    return _render(
        request,
        admin_site,
        "admin/ticketing/desk_sold.html",
        _("Order %(code)s") % {"code": order.code},
        {"order": order, "tickets": selectors.order_tickets(order)},
    )


def order_tickets_pdf(request: HttpRequest, *, order_id: int) -> HttpResponse:
    """The tickets' PDF of a paid order, to print at the desk."""
    _require(request, "ticketing.view_order")
    order = get_object_or_404(
        Order.objects.select_related("site"), pk=order_id, status=Order.Status.PAID
    )
    response = HttpResponse(order_pdf(order), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="tickets-{order.code}.pdf"'
    return response


# Geometry of the server-rendered SVG charts (user units of the viewBox).
CHART_WIDTH = 720
CHART_HEIGHT = 180
BAR_AREA = 150
OCCUPANCY_WIDTH = 420
OCCUPANCY_ROW = 22
OCCUPANCY_LABEL = 230


def _sales_bars(days) -> tuple[list[dict], int]:
    top = max((d.revenue_cents for d in days), default=0)
    step = CHART_WIDTH / max(1, len(days))
    bars = []
    for index, day in enumerate(days):
        height = round(BAR_AREA * day.revenue_cents / top) if top else 0
        bars.append(
            {
                "sales": day,
                "x": round(index * step + 2, 1),
                "width": round(step - 4, 1),
                "y": CHART_HEIGHT - 20 - height,
                "height": height,
                "label_x": round(index * step + step / 2, 1),
            }
        )
    return bars, top


def _occupancy_bars(board) -> dict:
    rows = []
    for index, row in enumerate(board.rows):
        capacity = max(1, row.slot.capacity)

        def scaled(seats: int, capacity: int = capacity) -> float:
            return round(OCCUPANCY_WIDTH * min(seats, capacity) / capacity, 1)

        sold_w = scaled(row.sold)
        held_w = min(scaled(row.held), OCCUPANCY_WIDTH - sold_w)
        rows.append(
            {
                "row": row,
                "y": index * OCCUPANCY_ROW,
                "text_y": index * OCCUPANCY_ROW + 15,
                "sold_w": sold_w,
                "held_x": OCCUPANCY_LABEL + sold_w,
                "held_w": held_w,
                "percent": round(100 * (row.sold + row.held) / capacity),
            }
        )
    return {
        "board": board,
        "rows": rows,
        "height": max(1, len(rows)) * OCCUPANCY_ROW,
        "width": OCCUPANCY_LABEL + OCCUPANCY_WIDTH + 60,
        "bar_x": OCCUPANCY_LABEL,
        "bar_width": OCCUPANCY_WIDTH,
        "label_x": OCCUPANCY_LABEL + OCCUPANCY_WIDTH + 8,
    }


def sales(request: HttpRequest, *, admin_site: AdminSite) -> HttpResponse:
    """Managers' figures: net sales per day (30 days) and occupancy per slot of one day."""
    _require(request, "ticketing.view_payment")
    now = timezone.now()
    current = timezone.localdate(now)
    first = current - dt.timedelta(days=SALES_DAYS - 1)
    days = sales_per_day(first=first, last=current)
    bars, top = _sales_bars(days)
    day = _day_from(request, current)
    return _render(
        request,
        admin_site,
        "admin/ticketing/sales.html",
        _("Sales"),
        {
            "days": days,
            "bars": bars,
            "top_revenue_cents": top,
            "total_tickets": sum(d.tickets for d in days),
            "total_revenue_cents": sum(d.revenue_cents for d in days),
            "first": first,
            "last": current,
            "chart_width": CHART_WIDTH,
            "chart_height": CHART_HEIGHT,
            "day": day,
            "occupancy": [_occupancy_bars(board) for board in day_board(day=day, now=now)],
            "channels": dict(Order.Channel.choices),
        },
    )
