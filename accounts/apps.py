from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # allauth announces a verified address, and Django a sign-in, only by a signal:
        # adapt each into one service call.
        from allauth.account.signals import email_confirmed
        from django.contrib.auth.signals import user_logged_in

        from accounts import documents  # noqa: F401  registers the card PDF attachment
        from accounts.adapter import email_confirmed_receiver, user_logged_in_receiver

        email_confirmed.connect(email_confirmed_receiver, dispatch_uid="accounts.email_confirmed")
        user_logged_in.connect(user_logged_in_receiver, dispatch_uid="accounts.user_logged_in")
