from django.contrib import admin

from newsletter.models import NewsletterConsent


@admin.register(NewsletterConsent)
class NewsletterConsentAdmin(admin.ModelAdmin):
    list_display = ["email", "given", "source", "wording_version", "recorded_at"]
    list_filter = ["given", "source"]
    search_fields = ["email"]
    readonly_fields = [f.name for f in NewsletterConsent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
