"""The buyer's refund forms: bank details, a new date, tickets to cancel.

Forms only parse what was typed; the rules (IBAN checks, capacity, cut-off) live in the
services, whose errors the views put back on these forms so the buyer keeps their input.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from refunds.errors import RefundError
from ticketing.models import Ticket, TimeSlot


class ServiceErrorsForm(forms.Form):
    """A form that takes a service's error back: on its field when the form has it."""

    def add_service_error(self, error: RefundError | ValidationError) -> None:
        if isinstance(error, ValidationError):
            if hasattr(error, "error_dict"):
                for name, errors in error.error_dict.items():
                    self.add_error(name if name in self.fields else None, errors)
            else:
                self.add_error(None, error)
            return
        field = error.field if error.field and error.field in self.fields else None
        self.add_error(field, str(error.message))


class BankDetailsForm(ServiceErrorsForm):
    """The account a bank refund is paid to; checked by ``refunds.iban`` in the service."""

    account_holder = forms.CharField(
        label=_("Account holder"),
        max_length=70,
        help_text=_("The name of the person or company the account belongs to."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    iban = forms.CharField(
        label=_("IBAN"),
        max_length=50,
        help_text=_("As printed on your bank card or statement, e.g. BE68 5390 0754 7034."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )
    bic = forms.CharField(
        label=_("BIC (optional)"),
        max_length=20,
        required=False,
        help_text=_("Only needed for an account outside the European Economic Area."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
        ),
    )


class SlotChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: TimeSlot) -> str:  # pragma: no cover - not shown
        return str(obj)


class RebookForm(ServiceErrorsForm):
    """Another date: any slot of the same exhibition; the service checks room and sale."""

    time_slot = SlotChoiceField(
        label=_("New date and time"),
        queryset=TimeSlot.objects.none(),
        error_messages={
            "required": _("Choose the new date and time."),
            "invalid_choice": _("This time slot is not one you can move to."),
        },
    )

    def __init__(self, *args, exhibition_id: int | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["time_slot"]
        assert isinstance(field, forms.ModelChoiceField)
        slots = TimeSlot.objects.select_related("site", "exhibition")
        field.queryset = (
            slots.filter(exhibition_id=exhibition_id) if exhibition_id else slots.none()
        )


class TicketsField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Ticket) -> str:  # pragma: no cover - not shown
        return str(obj)


class CancelRequestForm(ServiceErrorsForm):
    """Which tickets of an order to cancel, and why (optional)."""

    tickets = TicketsField(
        label=_("Tickets to cancel"),
        queryset=Ticket.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("Choose at least one ticket to cancel."),
            "invalid_choice": _("Some of these tickets were already used or cancelled."),
            "invalid_pk_value": _("Some of these tickets were already used or cancelled."),
        },
    )
    reason = forms.CharField(
        label=_("Why do you cancel? (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, tickets: QuerySet[Ticket], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["tickets"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = tickets
