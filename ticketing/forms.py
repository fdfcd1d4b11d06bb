"""Forms of the public shop and the entrance."""

from __future__ import annotations

from typing import cast

from django import forms
from django.utils.translation import gettext_lazy as _

from museum.models import Site
from newsletter.services import checkout_consent_wording
from ticketing.models import TicketType


class CheckoutForm(forms.Form):
    """Quantities per ticket type, the buyer's contact and the newsletter box."""

    name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        help_text=_("Used on your order and to greet you in e-mails."),
    )
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_("Your tickets are sent to this address."),
    )
    newsletter = forms.BooleanField(label="", required=False, initial=False)

    def __init__(self, *args, ticket_types: list[TicketType], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ticket_types = ticket_types
        self.fields["newsletter"].label = checkout_consent_wording()
        for ticket_type in ticket_types:
            self.fields[self.quantity_field(ticket_type)] = forms.IntegerField(
                label=ticket_type.name,
                min_value=0,
                max_value=ticket_type.max_per_order,
                initial=0,
                required=False,
                help_text=ticket_type.description,
                widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
            )
        if self.card_holder_types():
            self.fields["museum_cards"] = forms.CharField(
                label=_("Museum card numbers"),
                required=False,
                max_length=2000,
                help_text=_(
                    "For each museum card holder's ticket, the card's 12-digit number "
                    "(one per line)."
                ),
                widget=forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
            )
        # Quantities come first on the page, then who is buying.
        self.order_fields([self.quantity_field(t) for t in ticket_types] + ["name", "email"])

    def museum_card_codes(self) -> list[str]:
        """The typed card numbers, when card holders' tickets are chosen (else none)."""
        from accounts.services.card_bookings import split_card_codes

        card_tickets = sum(self.quantities().get(t.pk, 0) for t in self.card_holder_types())
        if not card_tickets:
            return []
        return split_card_codes(self.cleaned_data.get("museum_cards", ""))

    def card_holder_types(self) -> list[TicketType]:
        return [t for t in self.ticket_types if t.kind == TicketType.Kind.CARD_HOLDER]

    @staticmethod
    def quantity_field(ticket_type: TicketType) -> str:
        return f"qty_{ticket_type.pk}"

    def quantity_bound_fields(self):
        return [(t, self[self.quantity_field(t)]) for t in self.ticket_types]

    def quantities(self) -> dict[int, int]:
        return {t.pk: self.cleaned_data.get(self.quantity_field(t)) or 0 for t in self.ticket_types}

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not any(self.quantities().values()):
            raise forms.ValidationError(_("Choose at least one ticket."), code="no_tickets")
        return cleaned


class CheckInForm(forms.Form):
    code = forms.CharField(
        label=_("Ticket code"),
        max_length=200,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "off", "autocapitalize": "off"}
        ),
    )
    gate = forms.CharField(label=_("Entrance"), max_length=60, required=False)
    # Museum cards record their visit at a site (tickets know theirs from the slot).
    site = forms.TypedChoiceField(
        label=_("Site (for museum cards)"), coerce=int, required=False, empty_value=None
    )

    def __init__(self, *args, sites: list[Site], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["site"]).choices = [("", "—")] + [
            (site.pk, site.name) for site in sites
        ]
