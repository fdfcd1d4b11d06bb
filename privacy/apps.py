from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Privacy")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Every app's privacy.py declares its personal data, as admin.py registers models.
        autodiscover_modules("privacy")
        from privacy import checks, third_party  # noqa: F401 - Django's, allauth's models
