"""The staff admin of refunds: cancellation campaigns, the refunds queue, bank transfer
files, vouchers, and the refunds report.

Thin on purpose: the pages and buttons call ``refunds.services`` and report what they
said (``refunds/admin_campaigns.py``, ``admin_refund_actions.py``, ``admin_transfers.py``,
``admin_reports.py``); no refund rule lives here. Money fields are never
edited in a form. Who may do what comes from the staff groups
(accounts/migrations/0010_refunds_permissions.py).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Case, F, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from museum.templatetags.money import euros
from privacy.access_log import AccessLogMixin
from refunds import admin_campaigns, admin_refund_actions, admin_reports, admin_transfers
from refunds.admin_common import mask_iban
from refunds.models import Campaign, Refund, TransferBatch, Voucher


class CampaignForm(forms.ModelForm):
    """A cancellation as staff describe it; each scope names what it needs."""

    class Meta:
        model = Campaign
        fields = [
            "scope",
            "site",
            "exhibition",
            "time_slot",
            "first_day",
            "last_day",
            "reason",
            "default_choice",
            "answer_days",
            "extend_cards",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # A slot's campaign takes its day from the slot.
        # (A started campaign's read-only page builds this form without its fields.)
        for name in ("first_day", "last_day"):
            if name in self.fields:
                self.fields[name].required = False
                self.fields[name].help_text = _("For one time slot, leave empty: the slot's day.")

    def clean(self):
        data = super().clean()
        scope = data.get("scope")
        site = data.get("site")
        exhibition = data.get("exhibition")
        slot = data.get("time_slot")
        first, last = data.get("first_day"), data.get("last_day")
        if scope == Campaign.Scope.SLOT:
            if slot is None:
                self.add_error("time_slot", _("Choose the time slot that is cancelled."))
            else:
                if site is not None and slot.site_id != site.pk:
                    self.add_error("time_slot", _("This time slot is not at the chosen site."))
                day = timezone.localdate(slot.starts_at)
                first = data["first_day"] = first or day
                last = data["last_day"] = last or day
                if not first <= day <= last:
                    self.add_error("time_slot", _("This time slot is not within the days given."))
                if exhibition is not None and slot.exhibition_id != exhibition.pk:
                    self.add_error("exhibition", _("The time slot is of another exhibition."))
        elif slot is not None:
            self.add_error("time_slot", _("Only a cancellation of one time slot names a slot."))
        if scope in (Campaign.Scope.DAY, Campaign.Scope.EXHIBITION):
            if exhibition is None:
                self.add_error("exhibition", _("Choose the exhibition that is cancelled."))
            elif site is not None and exhibition.site_id != site.pk:
                self.add_error("exhibition", _("This exhibition is not at the chosen site."))
        if scope != Campaign.Scope.SLOT:
            if first is None:
                self.add_error("first_day", _("Give the first day cancelled."))
            if last is None:
                self.add_error("last_day", _("Give the last day cancelled."))
        if first is not None and last is not None:
            if last < first:
                self.add_error("last_day", _("The last day is before the first day."))
            elif scope == Campaign.Scope.DAY and first != last:
                self.add_error("last_day", _("A day's cancellation has one day: first = last."))
            if first < timezone.localdate():
                self.add_error("first_day", _("The first day is in the past."))
        return data


class CampaignListFilter(admin.SimpleListFilter):
    """Campaigns to choose from in the refunds list (their site in one query)."""

    title = _("cancellation campaign")
    parameter_name = "campaign"

    def lookups(self, request, model_admin):
        return [
            (str(c.pk), str(c))
            for c in Campaign.objects.select_related("site").order_by("-created_at")[:50]
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(campaign_id=int(value))
        return queryset


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = [
        "created_at",
        "scope",
        "site",
        "exhibition",
        "first_day",
        "last_day",
        "status",
        "total_orders",
        "next_step",
    ]
    list_filter = ["status", "scope", "site"]
    list_select_related = ["site", "exhibition"]
    search_fields = ["reason"]
    raw_id_fields = ["time_slot"]
    readonly_fields = [
        "status",
        "created_by",
        "started_at",
        "finished_at",
        "answer_by",
        "total_orders",
        "cards_extended",
    ]
    change_form_template = "admin/refunds/campaign/change_form.html"

    def has_delete_permission(self, request, obj=None):
        # A campaign is the record of a cancellation; a draft is simply never run.
        return False

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return False  # once started, the page is its report, read-only
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj: Campaign, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # Next step of a new cancellation: see what it would do before running it.
        return HttpResponseRedirect(reverse("admin:refunds_campaign_preview", args=[obj.pk]))

    def response_change(self, request, obj):
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        return HttpResponseRedirect(reverse("admin:refunds_campaign_preview", args=[obj.pk]))

    @admin.display(description=_("next step"))
    def next_step(self, obj: Campaign) -> str:
        if obj.status == Campaign.Status.DRAFT:
            url, label = reverse("admin:refunds_campaign_preview", args=[obj.pk]), _("Preview")
        else:
            url, label = reverse("admin:refunds_campaign_progress", args=[obj.pk]), _("Progress")
        return format_html('<a href="{}">{}</a>', url, label)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            extra_context["totals"] = admin_campaigns.campaign_totals(obj)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "<int:campaign_id>/preview/",
                site.admin_view(self.preview_view),
                name="refunds_campaign_preview",
            ),
            path(
                "<int:campaign_id>/run/",
                site.admin_view(self.run_view),
                name="refunds_campaign_run",
            ),
            path(
                "<int:campaign_id>/progress/",
                site.admin_view(self.progress_view),
                name="refunds_campaign_progress",
            ),
            path(
                "<int:campaign_id>/retry/",
                site.admin_view(self.retry_view),
                name="refunds_campaign_retry",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        return admin_campaigns.campaign_preview_page(
            request, campaign_id=campaign_id, admin_site=self.admin_site
        )

    def run_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:refunds_campaign_preview", args=[campaign_id])
            )
        return admin_campaigns.campaign_run(request, campaign_id=campaign_id)

    def progress_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        return admin_campaigns.campaign_progress_page(
            request, campaign_id=campaign_id, admin_site=self.admin_site
        )

    def retry_view(self, request: HttpRequest, campaign_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:refunds_campaign_progress", args=[campaign_id])
            )
        return admin_campaigns.campaign_retry(request, campaign_id=campaign_id)


def _order_email(refund: Refund) -> str:
    return refund.order.email


@admin.register(Refund)
class RefundAdmin(AccessLogMixin, admin.ModelAdmin):
    """The staff queue of refunds: requests to decide first, oldest first."""

    access_log_email = staticmethod(_order_email)
    list_display = [
        "order_code",
        "created_at",
        "status",
        "origin",
        "method",
        "amount",
        "buyer_email",
        "iban_masked",
        "campaign",
    ]
    list_filter = ["status", "origin", "method", CampaignListFilter]
    list_select_related = ["order__buyer", "campaign__site"]
    search_fields = ["order__code", "order__buyer__email"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "order_link",
        "status",
        "origin",
        "campaign",
        "method",
        "choice",
        "chosen_by_default",
        "paid",
        "fee",
        "amount",
        "currency",
        "tickets_list",
        "answer_by",
        "buyer_reason",
        "staff_reason",
        "account_holder",
        "iban",
        "bic",
        "bank_details_at",
        "transfer_batch",
        "attempt",
        "provider_reference",
        "failure",
        "decided_by",
        "approved_at",
        "sent_at",
        "succeeded_at",
        "failed_at",
        "closed_at",
        "created_at",
    )
    change_form_template = "admin/refunds/refund/change_form.html"
    change_list_template = "admin/refunds/refund/change_list.html"

    def has_add_permission(self, request):
        return False  # refunds come from a buyer's request or a campaign

    def has_delete_permission(self, request, obj=None):
        return False

    def get_ordering(self, request: HttpRequest):
        # Requests waiting for staff come first, the oldest first; the rest newest first.
        to_decide = Case(
            When(status=Refund.Status.REQUESTED, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return [
            to_decide.asc(),
            Case(When(status=Refund.Status.REQUESTED, then=F("created_at"))).asc(nulls_last=True),
            "-created_at",
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "requests_waiting": Refund.objects.filter(status=Refund.Status.REQUESTED).count(),
            "can_report": request.user.has_perms(["refunds.view_refund", "ticketing.view_payment"]),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        refund = self.get_object(request, object_id)
        if refund is not None:
            extra_context["refund_actions"] = admin_refund_actions.refund_actions_for(
                request, refund
            )
            extra_context["audit_trail"] = admin_refund_actions.refund_audit_trail(refund)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("order"), ordering="order__code")
    def order_code(self, obj: Refund) -> str:
        return obj.order.code

    @admin.display(description=_("order"))
    def order_link(self, obj: Refund) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:ticketing_order_change", args=[obj.order_id]),
            obj.order.code,
        )

    @admin.display(description=_("e-mail"), ordering="order__buyer__email")
    def buyer_email(self, obj: Refund) -> str:
        return obj.order.email

    @admin.display(description=_("to pay back"), ordering="amount_cents")
    def amount(self, obj: Refund) -> str:
        return euros(obj.amount_cents)

    @admin.display(description=_("paid for these tickets"))
    def paid(self, obj: Refund) -> str:
        return euros(obj.paid_cents)

    @admin.display(description=_("fee kept"))
    def fee(self, obj: Refund) -> str:
        return euros(obj.fee_cents)

    @admin.display(description=_("IBAN"))
    def iban_masked(self, obj: Refund) -> str:
        return mask_iban(obj.iban)

    @admin.display(description=_("tickets"))
    def tickets_list(self, obj: Refund) -> str:
        tickets = obj.tickets.select_related("time_slot__exhibition", "ticket_type")
        return ", ".join(
            f"{t.ticket_type.name} · {timezone.localtime(t.time_slot.starts_at):%Y-%m-%d %H:%M}"
            f" ({t.get_status_display()})"
            for t in tickets
        )

    def get_urls(self):
        site = self.admin_site
        return [
            path("report/", site.admin_view(self.report_view), name="refunds_refund_report"),
            path(
                "<int:refund_id>/do/<str:action>/",
                site.admin_view(self.action_view),
                name="refunds_refund_action",
            ),
            *super().get_urls(),
        ]

    def report_view(self, request: HttpRequest) -> HttpResponse:
        return admin_reports.refunds_report(request, admin_site=self.admin_site)

    def action_view(self, request: HttpRequest, refund_id: int, action: str) -> HttpResponse:
        return admin_refund_actions.refund_action(
            request, refund_id=refund_id, action=action, admin_site=self.admin_site
        )


class ReadOnlyMixin:
    """Rows written only by services: staff may look, never add, edit or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TransferBatch)
class TransferBatchAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "message_id",
        "created_at",
        "status",
        "count",
        "total",
        "execution_date",
        "created_by",
        "paid_at",
    ]
    list_filter = ["status"]
    list_select_related = ["created_by"]
    search_fields = ["message_id"]
    fields = readonly_fields = (
        "message_id",
        "status",
        "count",
        "total",
        "currency",
        "execution_date",
        "created_by",
        "created_at",
        "paid_at",
        "paid_by",
    )
    change_form_template = "admin/refunds/transferbatch/change_form.html"
    change_list_template = "admin/refunds/transferbatch/change_list.html"

    @admin.display(description=_("total"), ordering="total_cents")
    def total(self, obj: TransferBatch) -> str:
        return euros(obj.total_cents)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_export": request.user.has_perm("refunds.export_transfers"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {})}
        batch = self.get_object(request, object_id)
        if batch is not None:
            refunds = list(
                Refund.objects.filter(transfer_batch=batch)
                .select_related("order")
                .order_by("pk")
                .only("pk", "status", "amount_cents", "iban", "failure", "order__code", "method")
            )
            for refund in refunds:
                refund.iban_masked = mask_iban(refund.iban)  # type: ignore[attr-defined]
            extra_context["batch_refunds"] = refunds
            extra_context["can_export"] = request.user.has_perm("refunds.export_transfers")
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        site = self.admin_site
        return [
            path("export/", site.admin_view(self.export_view), name="refunds_transferbatch_export"),
            path(
                "<int:batch_id>/download/",
                site.admin_view(self.download_view),
                name="refunds_transferbatch_download",
            ),
            path(
                "<int:batch_id>/paid/",
                site.admin_view(self.paid_view),
                name="refunds_transferbatch_paid",
            ),
            path(
                "<int:batch_id>/bounced/<int:refund_id>/",
                site.admin_view(self.bounced_view),
                name="refunds_transferbatch_bounced",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        return admin_transfers.transfers_export(request, admin_site=self.admin_site)

    def download_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        return admin_transfers.transfer_batch_download(request, batch_id=batch_id)

    def paid_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        return admin_transfers.transfer_batch_paid(request, batch_id=batch_id)

    def bounced_view(self, request: HttpRequest, batch_id: int, refund_id: int) -> HttpResponse:
        return admin_transfers.transfer_bounced(request, batch_id=batch_id, refund_id=refund_id)


@admin.register(Voucher)
class VoucherAdmin(AccessLogMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["code", "created_at", "value", "balance", "valid_until", "email", "refund"]
    list_select_related = ["refund__order"]
    search_fields = ["code", "email", "refund__order__code"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "code",
        "value",
        "balance",
        "currency",
        "email",
        "language",
        "valid_until",
        "refund",
        "created_at",
    )

    @admin.display(description=_("value"), ordering="amount_cents")
    def value(self, obj: Voucher) -> str:
        return euros(obj.amount_cents)

    @admin.display(description=_("left to spend"), ordering="balance_cents")
    def balance(self, obj: Voucher) -> str:
        return euros(obj.balance_cents)
