from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # allauth announces a verified address only by a signal: adapt it into one service call.
        from allauth.account.signals import email_confirmed

        from accounts import documents  # noqa: F401  registers the card PDF attachment
        from accounts.adapter import email_confirmed_receiver

        email_confirmed.connect(email_confirmed_receiver, dispatch_uid="accounts.email_confirmed")
