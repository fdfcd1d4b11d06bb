"""Retention in the admin: the values a museum chose, the purge runs and their reports.

Managers and the DPO change the retention settings (``privacy.change_retentionsetting``)
and read the runs; "Run now" and "Dry run" (``privacy.run_purge``) queue the nightly task
after commit, for every rule or one. The groups get these rights from
accounts/migrations/0007_privacy_retention_permissions.py.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from privacy.declarations import ErasureKind
from privacy.models import PurgeRun, RetentionSetting
from privacy.purge import CLOCKLESS
from privacy.registry import registry


def rule_choices() -> list[tuple[str, str]]:
    """The keys a setting can name: each declaration with a clock, then each rule kind."""
    declarations = [
        d
        for d in registry.declarations
        if d.retention.kind not in CLOCKLESS and d.erasure.kind is not ErasureKind.KEEP
    ]
    choices = [(d.key, f"{d.key} — {d.title}: {d.retention_description}") for d in declarations]
    kinds = sorted({d.retention.key for d in declarations})
    choices.extend((kind, _("every rule of kind %(kind)s") % {"kind": kind}) for kind in kinds)
    return choices


class RetentionSettingForm(forms.ModelForm):
    rule_key = forms.ChoiceField(label=gettext_lazy("rule"), choices=rule_choices)

    class Meta:
        model = RetentionSetting
        fields = ["rule_key", "site", "years", "days", "is_active"]


@admin.register(RetentionSetting)
class RetentionSettingAdmin(admin.ModelAdmin):
    """The values that override the declarations' defaults, for every site or one."""

    form = RetentionSettingForm
    list_display = ["rule_key", "site", "years", "days", "is_active", "updated_by", "updated_at"]
    list_filter = ["is_active", "site"]
    search_fields = ["rule_key"]
    list_select_related = ["site", "updated_by"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class RunForm(forms.Form):
    only_rule = forms.ChoiceField(label=gettext_lazy("rule"), required=False)
    dry_run = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("every rule")), *rule_choices()]
        self.fields["only_rule"].choices = choices  # type: ignore[attr-defined]


@admin.register(PurgeRun)
class PurgeRunAdmin(admin.ModelAdmin):
    """The runs, newest first, read-only; each with its report as a table."""

    change_list_template = "admin/privacy/purgerun/change_list.html"
    list_display = ["started_at", "as_of", "kind", "status", "only_rule", "triggered_by", "totals"]
    list_filter = ["status", "dry_run"]
    list_select_related = ["triggered_by"]
    fields = [
        "started_at",
        "finished_at",
        "as_of",
        "dry_run",
        "status",
        "only_rule",
        "triggered_by",
        "error",
        "report_table",
    ]
    readonly_fields = fields  # type: ignore[assignment]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=gettext_lazy("kind"))
    def kind(self, obj: PurgeRun) -> str:
        return _("dry run") if obj.dry_run else _("purge")

    @admin.display(description=gettext_lazy("deleted / anonymised / held"))
    def totals(self, obj: PurgeRun) -> str:
        entries = obj.report.values()
        deleted = sum(e.get("deleted", 0) for e in entries)
        anonymised = sum(e.get("anonymised", 0) for e in entries)
        held = sum(sum(e.get("held", {}).values()) for e in entries)
        return f"{deleted} / {anonymised} / {held}"

    @admin.display(description=gettext_lazy("report"))
    def report_table(self, obj: PurgeRun) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    key,
                    ", ".join(entry.get("category", [])),
                    entry.get("rule", ""),
                    entry.get("deleted", 0),
                    entry.get("anonymised", 0),
                    "; ".join(f"{reason}: {n}" for reason, n in entry.get("held", {}).items()),
                    entry.get("kept", ""),
                )
                for key, entry in obj.report.items()
            ),
        )
        return format_html(
            '<table class="purge-report"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("Declaration"),
            _("Categories"),
            _("Rule"),
            _("Deleted"),
            _("Anonymised"),
            _("Held, and why"),
            _("Kept, and why"),
            rows,
        )

    def get_urls(self):
        return [
            path(
                "run/",
                self.admin_site.admin_view(require_POST(self.run_view)),
                name="privacy_purgerun_run",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        can_run = request.user.has_perm("privacy.run_purge")
        extra_context = {
            **(extra_context or {}),
            "can_run": can_run,
            "run_form": RunForm() if can_run else None,
        }
        return super().changelist_view(request, extra_context)

    def run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue the purge (real or dry, every rule or one) after commit."""
        if not request.user.has_perm("privacy.run_purge"):
            raise PermissionDenied
        form = RunForm(request.POST)
        back = HttpResponseRedirect(reverse("admin:privacy_purgerun_changelist"))
        if not form.is_valid():
            messages.error(request, _("Choose a rule from the list."))
            return back
        from privacy.tasks import nightly_purge

        dry_run = "dry_run" in request.POST
        only_rule = form.cleaned_data["only_rule"]
        user_id = request.user.pk
        transaction.on_commit(
            lambda: nightly_purge.delay(
                dry_run=dry_run, only_rule=only_rule, triggered_by_id=user_id
            )
        )
        if dry_run:
            messages.success(request, _("The dry run is queued; its report appears below."))
        else:
            messages.success(request, _("The purge is queued; its report appears below."))
        return back
