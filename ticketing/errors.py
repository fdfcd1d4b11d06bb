"""The ticketing domain's errors: each carries a message a visitor can read."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class TicketingError(Exception):
    """A rule of the ticket shop said no; ``message`` is translated and shown as is."""

    code = "invalid"
    default_message = _("This request cannot be completed.")

    def __init__(self, message=None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(str(self.message))


class SoldOut(TicketingError):
    code = "sold_out"
    default_message = _("Not enough places are left in this time slot.")


class DailyCapReached(TicketingError):
    code = "daily_cap"
    default_message = _("The museum has no more places left on this day.")


class SlotNotOnSale(TicketingError):
    code = "not_on_sale"
    default_message = _("This time slot is not on sale (it is past, closed or cancelled).")


class InvalidQuantity(TicketingError):
    code = "invalid_quantity"
    default_message = _("Choose at least one ticket.")


class InvalidTicketType(TicketingError):
    code = "invalid_ticket_type"
    default_message = _("This ticket type is not sold for this time slot.")


class OrderNotPayable(TicketingError):
    code = "not_payable"
    default_message = _("This order can no longer be paid.")


class NotCancellable(TicketingError):
    code = "not_cancellable"
    default_message = _("These tickets cannot be cancelled.")


class PaymentError(TicketingError):
    code = "payment_error"
    default_message = _("The payment could not be started. Please try again in a moment.")
