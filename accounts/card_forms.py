"""Forms of the museum card pages: buying (for oneself or as a gift) and claiming a gift."""

from __future__ import annotations

import datetime as dt
from typing import cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import CardProduct
from accounts.services.cards import MAX_GREETING, CardGift


class AccessibleForm(forms.Form):
    """Links each field's error message to its input (aria-describedby, aria-invalid).

    Django links the help text itself; the error paragraph is rendered by
    templates/accounts/card/_field.html with the id ``<input id>_error``.
    """

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name not in self.fields:
                continue
            bound = self[name]
            ids = [f"{bound.auto_id}_helptext"] if self.fields[name].help_text else []
            ids.append(f"{bound.auto_id}_error")
            self.fields[name].widget.attrs.update(
                {"aria-describedby": " ".join(ids), "aria-invalid": "true"}
            )


class CardBuyForm(AccessibleForm):
    product: forms.ModelChoiceField[CardProduct] = forms.ModelChoiceField(
        label=_("Card"), queryset=CardProduct.objects.none(), empty_label=None
    )
    holder_name = forms.CharField(
        label=_("Name printed on the card"),
        max_length=200,
        help_text=_(
            "The card is personal. For a gift, enter your own name: the recipient "
            "puts the card in their name."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    holder_email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_("The card (or, for a gift, the confirmation) is sent to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    is_gift = forms.BooleanField(label=_("This card is a gift"), required=False)
    recipient_email = forms.EmailField(
        label=_("Recipient's e-mail address"),
        max_length=254,
        required=False,
        help_text=_("Only for a gift: we send the card to this address."),
    )
    deliver_on = forms.DateField(
        label=_("Delivery date"),
        required=False,
        help_text=_("Only for a gift, optional: the day we send it (empty: at once)."),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    greeting = forms.CharField(
        label=_("Greeting"),
        required=False,
        max_length=MAX_GREETING,
        help_text=_("Only for a gift, optional: a few words sent with the card."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, products, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = cast("forms.ModelChoiceField[CardProduct]", self.fields["product"])
        if len(products) == 1:
            field.initial = products[0].pk
            field.widget = forms.HiddenInput()
        else:
            field.widget = forms.RadioSelect()
        field.queryset = products  # also gives the widget its choices

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("is_gift"):
            if not cleaned.get("recipient_email") and "recipient_email" not in self.errors:
                self.add_error("recipient_email", _("Enter the recipient's e-mail address."))
            deliver_on = cleaned.get("deliver_on")
            if deliver_on is not None and deliver_on < timezone.localdate():
                self.add_error("deliver_on", _("The delivery date cannot be in the past."))
            elif deliver_on is not None and deliver_on > timezone.localdate() + dt.timedelta(
                days=366
            ):
                self.add_error(
                    "deliver_on", _("The delivery date must be within a year from today.")
                )
        return cleaned

    def gift(self) -> CardGift | None:
        if not self.cleaned_data.get("is_gift"):
            return None
        return CardGift(
            recipient_email=self.cleaned_data["recipient_email"],
            deliver_on=self.cleaned_data.get("deliver_on"),
            greeting=self.cleaned_data.get("greeting") or "",
        )


class CardGiftClaimForm(AccessibleForm):
    holder_name = forms.CharField(
        label=_("Your name, printed on the card"),
        max_length=200,
        help_text=_("The card is personal: show it with your name at the entrance."),
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )


class CardRenewForm(AccessibleForm):
    """The renewal on the holder's page: where the confirmation goes (prefilled)."""

    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_("We send the confirmation of the renewal to this address."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
