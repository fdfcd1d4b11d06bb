"""Forms of the "My account" pages: parse and validate only; the services write."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from newsletter.services import account_consent_wording


class ProfileForm(forms.ModelForm):
    """The optional personal data, each field with the reason it is asked for.

    Give it a copy of the user read from the database: a ModelForm writes the typed values
    onto its instance while validating, and the service does the saving.
    """

    class Meta:
        model = User
        fields = ["first_name", "last_name", "phone", "postal_address", "year_of_birth"]
        help_texts = {
            "first_name": _("Optional: fills in your name when you buy tickets."),
            "last_name": _("Optional: fills in your name when you buy tickets."),
        }
        widgets = {
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
            "postal_address": forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
            # A text box, so that whatever was typed comes back with the error message.
            "year_of_birth": forms.TextInput(attrs={"inputmode": "numeric", "maxlength": 4}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["first_name"].widget.attrs["autocomplete"] = "given-name"
        self.fields["last_name"].widget.attrs["autocomplete"] = "family-name"

    def clean_year_of_birth(self) -> int | None:
        year = self.cleaned_data.get("year_of_birth")
        if year is not None and year > timezone.localdate().year:
            raise forms.ValidationError(_("The year of birth cannot be in the future."))
        return year


class LanguageForm(forms.Form):
    language = forms.ChoiceField(
        label=_("Language of the site and of your e-mails"), choices=settings.LANGUAGES
    )


class NewsletterForm(forms.Form):
    subscribe = forms.BooleanField(required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["subscribe"].label = account_consent_wording(given=True)


class ClosureForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are you leaving? (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional: it helps us to improve; it is deleted with your account."),
    )
    confirm = forms.BooleanField(
        label=_("Yes, I want my account to be deleted."),
        error_messages={"required": _("Tick the box to confirm that you want this.")},
    )
