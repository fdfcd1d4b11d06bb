"""The staff admin of the museum card: products, cards, visits, the monthly settlement and
selling a card at the desk.

Thin on purpose: the "end card" action and the desk sale call ``accounts.services.cards``;
the settlement reads ``accounts.selectors.card_settlement``. Imported by accounts/admin.py.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from modeltranslation.admin import TranslationAdmin

from accounts.documents import card_pdf, settlement_csv, settlement_pdf
from accounts.models import CardProduct, CardPurchase, CardVisit, MuseumCard
from accounts.selectors import (
    CARD_SHOP_OPEN_KEY,
    card_get_by_number,
    card_products_on_sale,
    card_settlement,
)
from accounts.services.cards import CardError, card_end, card_order_place
from accounts.templatetags.cards import card_number, card_status_label
from museum.templatetags.money import euros
from privacy.access_log import AccessLogMixin
from ticketing.models import Order

VALIDITY_FIELDS = (
    "status",
    "valid_from",
    "valid_until",
    "months_pending",
    "activated_at",
    "ended_at",
    "end_reason",
)


class _ReadOnly:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CardProduct)
class CardProductAdmin(TranslationAdmin):
    list_display = ["name", "price", "validity_months", "is_active"]
    list_filter = ["is_active"]

    @admin.display(description=_("price"), ordering="price_cents")
    def price(self, obj: CardProduct) -> str:
        return euros(obj.price_cents)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The site header links the card shop only while a product is on sale.
        cache.delete(CARD_SHOP_OPEN_KEY)


class CardPurchaseInline(_ReadOnly, admin.TabularInline):
    model = CardPurchase
    extra = 0
    fields = readonly_fields = ("order", "kind", "months", "price_cents", "applied_at")
    can_delete = False


class EndCardForm(forms.Form):
    reason = forms.CharField(label=_("Why the card ends"), max_length=200)


@admin.register(MuseumCard)
class MuseumCardAdmin(AccessLogMixin, admin.ModelAdmin):
    access_log_email = "holder_email"

    list_display = [
        "number_grouped",
        "holder_name",
        "holder_email",
        "status_label",
        "valid_until",
        "is_gift",
    ]
    list_filter = ["status", "is_gift", "product"]
    list_select_related = ["product"]
    search_fields = ["=number", "holder_name", "holder_email", "gift_recipient_email"]
    date_hierarchy = "created_at"
    fields = (
        "number",
        "product",
        "holder_name",
        "holder_email",
        "holder",
        "language",
        *VALIDITY_FIELDS,
        "is_gift",
        "gift_recipient_email",
        "gift_deliver_on",
        "gift_sent_at",
        "gift_claimed_at",
        "printable_card",
        "recent_visits",
        "created_at",
    )
    # Personal data may be corrected; validity changes only through services (scans,
    # renewals, the "end card" action), which write audit events.
    readonly_fields = tuple(
        f for f in fields if f not in ("holder_name", "holder_email", "language")
    )
    raw_id_fields = ["holder"]
    inlines = [CardPurchaseInline]
    actions = ["end_cards"]
    change_list_template = "admin/accounts/museumcard/change_list.html"

    def has_add_permission(self, request):
        # Cards come from orders (web shop or the desk sale page), never typed in.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("card number"), ordering="number")
    def number_grouped(self, obj: MuseumCard) -> str:
        return card_number(obj.number)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj: MuseumCard) -> str:
        return card_status_label(obj)

    def get_search_results(self, request, queryset, search_term):
        # The desk types the number as printed, in blocks of four.
        digits = "".join(search_term.split()).replace("-", "")
        if len(digits) == 12 and digits.isdigit():
            search_term = digits
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description=_("printable card"))
    def printable_card(self, obj: MuseumCard) -> str:
        if obj.pk is None or obj.status not in (
            MuseumCard.Status.NOT_ACTIVATED,
            MuseumCard.Status.ACTIVE,
        ):
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:accounts_museumcard_pdf", args=[obj.pk]),
            _("Print the card (PDF)"),
        )

    @admin.display(description=_("last visits"))
    def recent_visits(self, obj: MuseumCard) -> str:
        visits = list(obj.visits.select_related("site").order_by("-visited_at")[:10])
        if not visits:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} · {}</li>",
                (
                    (timezone.localtime(v.visited_at).strftime("%Y-%m-%d %H:%M"), v.site.name)
                    for v in visits
                ),
            ),
        )

    @admin.action(
        description=_("End the selected cards (scans then answer ENDED)"), permissions=["change"]
    )
    def end_cards(
        self, request: HttpRequest, queryset: QuerySet[MuseumCard]
    ) -> HttpResponse | None:
        form = EndCardForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if not form.is_bound or not form.is_valid():
            return TemplateResponse(
                request,
                "admin/accounts/museumcard/end_cards.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("End museum cards"),
                    "opts": self.model._meta,
                    "cards": list(queryset.order_by("pk")),
                    "form": form,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        ended = 0
        for card in queryset.exclude(status=MuseumCard.Status.ENDED):
            card_end(card=card, reason=form.cleaned_data["reason"], actor=request.user)
            ended += 1
        self.message_user(
            request,
            ngettext("%(n)d card ended.", "%(n)d cards ended.", ended) % {"n": ended},
            messages.SUCCESS,
        )
        return None

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "settlement/",
                site.admin_view(self.settlement_view),
                name="accounts_museumcard_settlement",
            ),
            path("sell/", site.admin_view(self.sell_view), name="accounts_museumcard_sell"),
            path(
                "<int:card_id>/card.pdf",
                site.admin_view(self.pdf_view),
                name="accounts_museumcard_pdf",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_settle": request.user.has_perm("accounts.view_card_settlement"),
            "can_sell": request.user.has_perm("ticketing.sell_at_desk"),
        }
        return super().changelist_view(request, extra_context)

    # --- the monthly settlement ----------------------------------------------------------

    def settlement_view(self, request: HttpRequest) -> HttpResponse:
        """Card visits and distinct holders per site for one month; CSV and PDF too."""
        if not request.user.has_perm("accounts.view_card_settlement"):
            raise PermissionDenied
        today = timezone.localdate()
        default = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        try:
            year, month = (int(x) for x in request.GET.get("month", "").split("-"))
            first = dt.date(year, month, 1)
        except (ValueError, OverflowError):
            first = default
        if not (2000 <= first.year <= today.year + 1):
            first = default
        settlement = card_settlement(year=first.year, month=first.month)
        stamp = f"{first:%Y-%m}"
        wanted = request.GET.get("format")
        if wanted == "csv":
            response = HttpResponse(settlement_csv(settlement), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="card-settlement-{stamp}.csv"'
            return response
        if wanted == "pdf":
            pdf = settlement_pdf(settlement, language=translation.get_language() or "en")
            response = HttpResponse(pdf, content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="card-settlement-{stamp}.pdf"'
            return response
        previous_month = (first - dt.timedelta(days=1)).replace(day=1)
        next_month = (first + dt.timedelta(days=32)).replace(day=1)
        return TemplateResponse(
            request,
            "admin/accounts/museumcard/settlement.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Museum card settlement"),
                "opts": self.model._meta,
                "settlement": settlement,
                "month": stamp,
                "previous_month": f"{previous_month:%Y-%m}",
                "next_month": f"{next_month:%Y-%m}" if next_month <= today else None,
            },
        )

    # --- selling at the desk ------------------------------------------------------------

    def sell_view(self, request: HttpRequest) -> HttpResponse:
        """Sell a new card, or renew a card found by its number, paid at the desk.

        Issued at once (a new card is printed on the spot). The two forms share the page;
        the submit button's ``sale`` value says which one was sent.
        """
        if not request.user.has_perm("ticketing.sell_at_desk"):
            raise PermissionDenied
        is_renewal = request.method == "POST" and request.POST.get("sale") == "renewal"
        form = DeskCardSaleForm(
            request.POST if request.method == "POST" and not is_renewal else None
        )
        renewal_form = DeskCardRenewalForm(request.POST if is_renewal else None)
        sold = renewed = None
        if request.method == "POST" and not is_renewal and form.is_valid():
            try:
                order = card_order_place(
                    product=form.cleaned_data["product"],
                    holder_name=form.cleaned_data["holder_name"],
                    holder_email=form.cleaned_data["holder_email"],
                    language=form.cleaned_data["language"],
                    channel=Order.Channel.DESK,
                    payment_method=form.cleaned_data["payment_method"],
                    created_by=request.user,
                )
            except CardError as exc:
                form.add_error(None, exc.message)
            else:
                sold = order.card_purchases.select_related("card").get().card
                form = DeskCardSaleForm()
        elif is_renewal and renewal_form.is_valid():
            card = renewal_form.cleaned_data["number"]
            try:
                card_order_place(
                    product=renewal_form.cleaned_data["product"],
                    holder_name=card.holder_name,
                    holder_email=renewal_form.cleaned_data["email"] or card.holder_email,
                    language=card.language,
                    channel=Order.Channel.DESK,
                    payment_method=renewal_form.cleaned_data["payment_method"],
                    created_by=request.user,
                    renew_card=card,
                )
            except CardError as exc:
                renewal_form.add_error("number", exc.message)
            else:
                card.refresh_from_db()
                renewed = card
                renewal_form = DeskCardRenewalForm()
        return TemplateResponse(
            request,
            "admin/accounts/museumcard/sell.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Sell a museum card"),
                "opts": self.model._meta,
                "form": form,
                "renewal_form": renewal_form,
                "sold": sold,
                "renewed": renewed,
            },
        )

    def pdf_view(self, request: HttpRequest, card_id: int) -> HttpResponse:
        if not (
            request.user.has_perm("accounts.view_museumcard")
            or request.user.has_perm("ticketing.sell_at_desk")
        ):
            raise PermissionDenied
        card = get_object_or_404(
            MuseumCard.objects.select_related("product"),
            pk=card_id,
            status__in=[MuseumCard.Status.NOT_ACTIVATED, MuseumCard.Status.ACTIVE],
        )
        response = HttpResponse(card_pdf(card), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="museum-card-{card.number}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return self.access_log_document(request, response, card)


PAYMENT_CHOICES = [
    (Order.PaymentMethod.CASH, Order.PaymentMethod.CASH.label),
    (Order.PaymentMethod.CARD_TERMINAL, Order.PaymentMethod.CARD_TERMINAL.label),
]


class DeskCardSaleForm(forms.Form):
    product: forms.ModelChoiceField[CardProduct] = forms.ModelChoiceField(
        label=_("Card"), queryset=CardProduct.objects.none(), empty_label=None
    )
    holder_name = forms.CharField(label=_("Name printed on the card"), max_length=200)
    holder_email = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        help_text=_("Optional: the card and its page are sent there."),
    )
    language = forms.ChoiceField(label=_("Language"))
    payment_method = forms.ChoiceField(label=_("Payment"), choices=PAYMENT_CHOICES)

    def __init__(self, *args, **kwargs) -> None:
        from django.conf import settings

        super().__init__(*args, **kwargs)
        cast(
            "forms.ModelChoiceField[CardProduct]", self.fields["product"]
        ).queryset = card_products_on_sale()
        cast(forms.ChoiceField, self.fields["language"]).choices = settings.LANGUAGES
        self.fields["language"].initial = translation.get_language()


class DeskCardRenewalForm(forms.Form):
    prefix = "renewal"  # its fields never clash with the new-card form's on the same page

    number = forms.CharField(
        label=_("Card number"),
        max_length=30,
        help_text=_("The 12 digits under the card's QR code."),
    )
    product: forms.ModelChoiceField[CardProduct] = forms.ModelChoiceField(
        label=_("Card"), queryset=CardProduct.objects.none(), empty_label=None
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        required=False,
        help_text=_(
            "Optional: the confirmation of the renewal is sent there (if empty: to the "
            "card's e-mail address, if it has one)."
        ),
    )
    payment_method = forms.ChoiceField(label=_("Payment"), choices=PAYMENT_CHOICES)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(
            "forms.ModelChoiceField[CardProduct]", self.fields["product"]
        ).queryset = card_products_on_sale()

    def clean_number(self) -> MuseumCard:
        card = card_get_by_number(self.cleaned_data["number"])
        if card is None:
            raise forms.ValidationError(_("No museum card has this number."))
        return card


@admin.register(CardVisit)
class CardVisitAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["visited_at", "site", "card", "gate", "checked_in_by"]
    list_filter = ["site"]
    list_select_related = ["site", "card", "checked_in_by"]
    search_fields = ["=card__number", "card__holder_name"]
    date_hierarchy = "visited_at"
