"""Cookies and visits in the admin: third-party trackers, and the first-party statistics.

Managers configure trackers (``privacy.*_trackersetting``) and read the visit statistics
(``privacy.view_pageviewday``); the Manager group gets these rights from
privacy/migrations/0002_consent_trackers_statistics.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from privacy.consent import active_trackers_forget
from privacy.models import TrackerSetting
from privacy.stats import page_views_table

STATISTICS_DAYS = 30


class TrackerSettingForm(forms.ModelForm):
    script_url = forms.URLField(
        label=gettext_lazy("script URL"), assume_scheme="https", max_length=200
    )

    class Meta:
        model = TrackerSetting
        fields = ["name", "script_url", "purpose", "is_active"]

    def clean_script_url(self) -> str:
        url = self.cleaned_data["script_url"]
        if not url.startswith("https://"):
            raise forms.ValidationError(_("The script must be loaded over https."))
        return url


@admin.register(TrackerSetting)
class TrackerSettingAdmin(admin.ModelAdmin):
    """A tracker runs only for visitors who accepted it in the cookie banner."""

    form = TrackerSettingForm
    list_display = ["name", "purpose", "script_url", "is_active", "updated_at"]
    list_filter = ["is_active", "purpose"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        active_trackers_forget()  # pages show the change at once, not after a minute

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        active_trackers_forget()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        active_trackers_forget()

    def get_urls(self):
        statistics = path(
            "visits/",
            self.admin_site.admin_view(self.statistics_view),
            name="privacy_visit_statistics",
        )
        return [statistics, *super().get_urls()]

    def statistics_view(self, request: HttpRequest) -> HttpResponse:
        """Views per page and day over the last 30 days (one query for the table)."""
        if not request.user.has_perm("privacy.view_pageviewday"):
            raise PermissionDenied
        return TemplateResponse(
            request,
            "admin/privacy/visit_statistics.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Visits per page and day"),
                "table": page_views_table(days=STATISTICS_DAYS),
            },
        )
