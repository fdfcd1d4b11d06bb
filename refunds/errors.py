"""The refunds domain's errors: each carries a message a buyer or a clerk can read."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class RefundError(Exception):
    """A refund rule said no; ``message`` is translated and shown as is, nothing changed."""

    default_message = _("This refund cannot be changed any more.")

    def __init__(self, message=None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(str(self.message))


class CampaignError(RefundError):
    default_message = _("This campaign cannot be run.")


class VoucherError(RefundError):
    """A voucher cannot be spent on this order; nothing changed."""

    default_message = _("This voucher cannot be used.")
