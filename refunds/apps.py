from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RefundsConfig(AppConfig):
    name = "refunds"
    verbose_name = _("Refunds")

    def ready(self) -> None:
        from refunds.services.refunds import refund_on_provider_event
        from ticketing.payments.base import refund_listeners

        if refund_on_provider_event not in refund_listeners:
            refund_listeners.append(refund_on_provider_event)
