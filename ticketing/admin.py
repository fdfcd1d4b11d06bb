"""The staff admin of the ticket shop: catalogue, slots, orders, and the front-desk pages.

Thin on purpose: actions and custom pages call the services in ``ticketing.services`` and
report what they said; no rule of the shop lives here. Who may do what comes from the
staff groups (accounts/migrations/0002_staff_groups.py) through Django's permissions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from modeltranslation.admin import TranslationAdmin

from museum.templatetags.money import euros
from privacy.access_log import AccessLogMixin
from ticketing import admin_views
from ticketing.errors import TicketingError
from ticketing.models import (
    Exhibition,
    Order,
    Payment,
    Reseller,
    ResellerAllocation,
    SlotRule,
    Ticket,
    TicketType,
    TimeSlot,
)
from ticketing.services.desk import time_slots_with_occupancy
from ticketing.services.orders import order_resend, tickets_cancel
from ticketing.services.resellers import reseller_create
from ticketing.services.slots import time_slots_generate

if TYPE_CHECKING:
    from ticketing.services.desk import SlotWithOccupancy


class ReadOnlyMixin:
    """Rows written only by services: staff may look, never add, edit or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Exhibition)
class ExhibitionAdmin(TranslationAdmin):
    list_display = ["name", "site", "starts_on", "ends_on", "is_active", "position"]
    list_filter = ["site", "is_active"]
    list_select_related = ["site"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}


@admin.register(TicketType)
class TicketTypeAdmin(TranslationAdmin):
    list_display = [
        "name",
        "site",
        "exhibition",
        "kind",
        "price",
        "vat_rate",
        "admits",
        "max_per_order",
        "is_active",
    ]
    list_filter = ["site", "kind", "is_active"]
    list_select_related = ["site", "exhibition"]
    search_fields = ["name"]

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: TicketType) -> str:
        return euros(obj.price_cents)


@admin.register(SlotRule)
class SlotRuleAdmin(admin.ModelAdmin):
    list_display = [
        "exhibition",
        "interval_minutes",
        "duration_minutes",
        "capacity",
        "valid_from",
        "valid_until",
    ]
    list_filter = ["exhibition__site", "exhibition"]
    list_select_related = ["exhibition"]


class ResellerAllocationInline(admin.TabularInline):
    model = ResellerAllocation
    extra = 0
    fields = ["reseller", "seats"]


@admin.register(TimeSlot)
class TimeSlotAdmin(admin.ModelAdmin):
    list_display = [
        "starts_at",
        "exhibition",
        "site",
        "capacity",
        "sold",
        "held",
        "kept_for_resellers",
        "free",
        "is_cancelled",
    ]
    list_filter = ["site", "exhibition", "is_cancelled"]
    list_select_related = ["site", "exhibition"]
    date_hierarchy = "starts_at"
    readonly_fields = ["site", "public_id"]
    fields = ["exhibition", "site", "starts_at", "ends_at", "capacity", "is_cancelled", "rule"]
    raw_id_fields = ["rule"]
    inlines = [ResellerAllocationInline]
    actions = ["generate_slots_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[TimeSlot]:
        return time_slots_with_occupancy(super().get_queryset(request))

    @admin.display(description=_("sold"), ordering="sold")
    def sold(self, obj: SlotWithOccupancy) -> int:
        return obj.sold

    @admin.display(description=_("held"), ordering="held")
    def held(self, obj: SlotWithOccupancy) -> int:
        return obj.held

    @admin.display(description=_("kept for resellers"), ordering="kept")
    def kept_for_resellers(self, obj: SlotWithOccupancy) -> int:
        return obj.kept

    @admin.display(description=_("free"))
    def free(self, obj: SlotWithOccupancy) -> str:
        free = max(0, obj.capacity - obj.sold - obj.held - obj.kept)
        return format_html(
            '<meter min="0" max="{}" value="{}" title="{}"></meter> {}',
            obj.capacity,
            obj.sold + obj.held + obj.kept,
            _("taken"),
            free,
        )

    def save_model(self, request, obj: TimeSlot, form, change) -> None:
        # A slot belongs to its exhibition's site; staff never pick the site separately.
        obj.site = obj.exhibition.site
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Generate the missing time slots now"), permissions=["add"])
    def generate_slots_now(self, request: HttpRequest, queryset: QuerySet[TimeSlot]) -> None:
        self._generate(request)

    def _generate(self, request: HttpRequest) -> None:
        created = time_slots_generate()
        self.message_user(
            request,
            ngettext("%(n)d time slot created.", "%(n)d time slots created.", created)
            % {"n": created},
            messages.SUCCESS,
        )

    def get_urls(self):
        site = self.admin_site
        return [
            path("today/", site.admin_view(self.today_view), name="ticketing_timeslot_today"),
            path(
                "generate/",
                site.admin_view(self.generate_view),
                name="ticketing_timeslot_generate",
            ),
            *super().get_urls(),
        ]

    def today_view(self, request: HttpRequest) -> HttpResponse:
        return admin_views.today(request, admin_site=self.admin_site)

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        """The action without a selection (an empty list has no action bar)."""
        return require_POST(self._generate_view)(request)

    def _generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        self._generate(request)
        return HttpResponseRedirect(reverse("admin:ticketing_timeslot_changelist"))


class TicketInline(ReadOnlyMixin, admin.TabularInline):
    model = Ticket
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "id",
        "ticket_type",
        "time_slot",
        "seats",
        "price",
        "status",
        "checked_in_at",
        "checked_in_gate",
        "cancelled_at",
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("ticket_type", "time_slot__exhibition")

    @admin.display(description=_("price"))
    def price(self, obj: Ticket) -> str:
        return euros(obj.price_cents)


@admin.register(Order)
class OrderAdmin(AccessLogMixin, admin.ModelAdmin):
    list_display = [
        "code",
        "created_at",
        "status",
        "channel",
        "site",
        "buyer_name",
        "buyer_email",
        "total",
        "payment_method",
    ]
    list_filter = ["status", "channel", "site", "payment_method"]
    list_select_related = ["site", "buyer"]
    search_fields = ["code", "buyer__email", "buyer__name"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "code",
        "status",
        "channel",
        "site",
        "payment_method",
        "total",
        "buyer_email",
        "buyer_name",
        "language",
        "user",
        "reseller",
        "buyer_reference",
        "hold_expires_at",
        "paid_at",
        "cancelled_at",
        "created_by",
        "resend_count",
        "created_at",
        "tickets_pdf",
    )
    inlines = [TicketInline]
    actions = ["resend_tickets", "cancel_unscanned_tickets"]

    def has_add_permission(self, request):
        # Orders come from order_place only: the desk sells through its own page.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Every field is read-only: staff change orders through the actions only.
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("total"), ordering="total_cents")
    def total(self, obj: Order) -> str:
        return euros(obj.total_cents)

    @admin.display(description=_("name"), ordering="buyer__name")
    def buyer_name(self, obj: Order) -> str:
        return obj.name

    @admin.display(description=_("e-mail"), ordering="buyer__email")
    def buyer_email(self, obj: Order) -> str:
        return obj.email

    @admin.display(description=_("reseller reference"))
    def buyer_reference(self, obj: Order) -> str:
        return obj.reseller_reference

    @admin.display(description=_("tickets (PDF)"))
    def tickets_pdf(self, obj: Order) -> str:
        if obj.pk is None or obj.status != Order.Status.PAID:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:ticketing_order_pdf", args=[obj.pk]),
            _("Print the tickets"),
        )

    @admin.action(description=_("Resend the tickets by e-mail"), permissions=["change"])
    def resend_tickets(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        sent = 0
        for order in queryset:
            try:
                order_resend(order=order, actor=request.user)
            except TicketingError as error:
                self.message_user(request, f"{order.code}: {error.message}", messages.ERROR)
            else:
                sent += 1
        if sent:
            self.message_user(
                request,
                ngettext(
                    "The tickets of %(n)d order were sent again.",
                    "The tickets of %(n)d orders were sent again.",
                    sent,
                )
                % {"n": sent},
                messages.SUCCESS,
            )

    @admin.action(
        description=_("Cancel unscanned tickets (their places return to sale)"),
        permissions=["change"],
    )
    def cancel_unscanned_tickets(
        self, request: HttpRequest, queryset: QuerySet[Order]
    ) -> HttpResponse | None:
        if request.POST.get("confirm") != "yes":
            return self._cancel_confirmation(request, queryset)
        # ticket id -> order id, for the posted tickets that belong to the selected orders
        chosen = dict(
            Ticket.objects.filter(
                order__in=queryset, pk__in=_int_list(request.POST.getlist("ticket"))
            ).values_list("pk", "order_id")
        )
        reason = request.POST.get("reason", "").strip()
        cancelled = 0
        for order in queryset:
            ticket_ids = [t for t, o in chosen.items() if o == order.pk]
            if not ticket_ids:
                continue
            try:
                done = tickets_cancel(
                    order=order, ticket_ids=ticket_ids, actor=request.user, reason=reason
                )
            except TicketingError as error:
                self.message_user(request, f"{order.code}: {error.message}", messages.ERROR)
            else:
                cancelled += len(done)
        if cancelled:
            self.message_user(
                request,
                ngettext(
                    "%(n)d ticket cancelled; its place is for sale again.",
                    "%(n)d tickets cancelled; their places are for sale again.",
                    cancelled,
                )
                % {"n": cancelled},
                messages.SUCCESS,
            )
        elif not chosen:
            self.message_user(request, _("No ticket was chosen; nothing changed."), messages.ERROR)
        return None

    def _cancel_confirmation(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse:
        orders = list(queryset.select_related("site").order_by("pk"))
        tickets = (
            Ticket.objects.filter(order__in=orders)
            .select_related("ticket_type", "time_slot__exhibition")
            .order_by("order_id", "pk")
        )
        by_order: dict[int, list[Ticket]] = {order.pk: [] for order in orders}
        for ticket in tickets:
            by_order[ticket.order_id].append(ticket)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Cancel unscanned tickets"),
            "opts": self.model._meta,
            "orders": [(order, by_order[order.pk]) for order in orders],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "now": timezone.now(),
        }
        return TemplateResponse(request, "admin/ticketing/order/cancel_tickets.html", context)

    def get_urls(self):
        site = self.admin_site
        return [
            path("sell/", site.admin_view(self.sell_view), name="ticketing_order_sell"),
            path(
                "sell/<int:order_id>/done/",
                site.admin_view(self.sold_view),
                name="ticketing_order_sold",
            ),
            path(
                "<int:order_id>/tickets.pdf",
                site.admin_view(self.pdf_view),
                name="ticketing_order_pdf",
            ),
            *super().get_urls(),
        ]

    def sell_view(self, request: HttpRequest) -> HttpResponse:
        return admin_views.desk_sell(request, admin_site=self.admin_site)

    def sold_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        return admin_views.desk_sold(request, order_id=order_id, admin_site=self.admin_site)

    def pdf_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        response = admin_views.order_tickets_pdf(request, order_id=order_id)
        order = Order.objects.select_related("buyer").filter(pk=order_id).first()
        return self.access_log_document(request, response, order)


def _int_list(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "ticket_type",
        "time_slot",
        "status",
        "checked_in_at",
        "cancelled_at",
    ]
    list_filter = ["status", "time_slot__site"]
    list_select_related = ["order", "ticket_type", "time_slot__exhibition"]
    search_fields = ["=order__code"]
    exclude = ["secret"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "order", "provider", "reference", "amount", "status"]
    list_filter = ["provider", "status"]
    list_select_related = ["order"]
    search_fields = ["=order__code", "=reference"]
    exclude = ["redirect_url"]

    @admin.display(description=_("amount"), ordering="amount_cents")
    def amount(self, obj: Payment) -> str:
        return euros(obj.amount_cents)

    def get_urls(self):
        return [
            path(
                "sales/",
                self.admin_site.admin_view(self.sales_view),
                name="ticketing_payment_sales",
            ),
            *super().get_urls(),
        ]

    def sales_view(self, request: HttpRequest) -> HttpResponse:
        return admin_views.sales(request, admin_site=self.admin_site)


class ResellerCreateForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=200)
    contact_email = forms.EmailField(label=_("contact e-mail"))


@admin.register(Reseller)
class ResellerAdmin(admin.ModelAdmin):
    """Resellers are created through ``reseller_create``, which shows the token once."""

    list_display = ["name", "contact_email", "token_prefix", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "contact_email"]
    fields = ["name", "contact_email", "is_active", "token_prefix", "webhook_url", "webhook_secret"]
    readonly_fields = ["token_prefix", "webhook_secret"]
    actions = ["rotate_webhook_secret"]

    def has_delete_permission(self, request, obj=None):
        # Orders point at their reseller; switch it off instead.
        return False

    @admin.action(description=_("Set a new webhook signing secret"), permissions=["change"])
    def rotate_webhook_secret(self, request: HttpRequest, queryset: QuerySet[Reseller]) -> None:
        from refunds.services.notices import reseller_webhook_secret_rotate

        resellers = list(queryset)
        for reseller in resellers:
            reseller_webhook_secret_rotate(reseller=reseller, actor=request.user)
        # The secret itself is read on the reseller's page, never carried in a message.
        self.message_user(
            request,
            ngettext(
                "New webhook signing secret set for %(n)d reseller; give it to them.",
                "New webhook signing secrets set for %(n)d resellers; give them to them.",
                len(resellers),
            )
            % {"n": len(resellers)},
            messages.SUCCESS,
        )

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ResellerCreateForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": _("Add reseller"),
        }
        if request.method == "POST" and form.is_valid():
            reseller, token = reseller_create(
                name=form.cleaned_data["name"],
                contact_email=form.cleaned_data["contact_email"],
                actor=request.user,
            )
            # The token is shown in this response only: never stored, never in a message
            # (messages travel in a cookie), never cached.
            response = TemplateResponse(
                request,
                "admin/ticketing/reseller/token.html",
                {**context, "reseller": reseller, "token": token, "title": reseller.name},
            )
            add_never_cache_headers(response)
            return response
        return TemplateResponse(request, "admin/ticketing/reseller/add.html", context)
