from django.conf import settings
from django.contrib import admin
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from museum.models import AuditEvent, Closure, OpeningHours, OutboxEmail, Site


class OpeningHoursInline(admin.TabularInline):
    model = OpeningHours
    extra = 0


@admin.register(Site)
class SiteAdmin(TranslationAdmin):
    list_display = ["name", "slug", "daily_capacity", "is_active"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [OpeningHoursInline]


@admin.register(Closure)
class ClosureAdmin(TranslationAdmin):
    list_display = ["site", "starts_on", "ends_on", "reason"]
    list_filter = ["site"]
    date_hierarchy = "starts_on"


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "action", "subject_type", "subject_id", "actor_label"]
    list_filter = ["action", "subject_type"]
    search_fields = ["subject_id", "action"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "to", "subject", "template", "status", "attempts", "sent_at"]
    list_filter = ["status", "language"]
    search_fields = ["to", "subject"]
    readonly_fields = [f.name for f in OutboxEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


admin.site.site_header = format_lazy(_("{museum} — staff"), museum=settings.MUSEUM_NAME)
admin.site.site_title = _("Museum staff")
admin.site.index_title = _("Front desk and management")
