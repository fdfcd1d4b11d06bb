"""Forms of subject requests: the public page, and the DPO's actions in the admin."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from privacy.models import SubjectRequest


class SubjectRequestForm(forms.Form):
    """What a person asks for, and the address that proves who they are."""

    kind = forms.ChoiceField(
        label=_("What are you asking for?"),
        choices=SubjectRequest.Kind.choices,
        widget=forms.RadioSelect,
    )
    email = forms.EmailField(
        label=_("Your e-mail address"),
        max_length=254,
        help_text=_("We send a link to this address to make sure the request is yours."),
    )
    message = forms.CharField(
        label=_("Message (optional)"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For a correction, tell us what is wrong and what is right."),
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True),
        required=False,
    )


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Internal note"), max_length=5000, widget=forms.Textarea)


class ExtendForm(forms.Form):
    until = forms.DateField(label=_("New deadline"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(
        label=_("Reason (told to the person)"), max_length=2000, widget=forms.Textarea
    )


class CloseForm(forms.Form):
    outcome = forms.CharField(
        label=_("Answer given (e-mailed to the person)"), max_length=5000, widget=forms.Textarea
    )
    refused = forms.BooleanField(label=_("The request is refused"), required=False)
