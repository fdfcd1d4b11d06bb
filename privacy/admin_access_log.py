"""The DPO's search in the access log: who saw whose personal data in the admin, and when.

One page, /admin/privacy/access-log/ (museum/urls.py mounts it before the admin site):
the person's e-mail address (hashed as the log stores it), the staff member, a date
range; the events newest first, 50 a page, in a fixed number of queries. Seeing it needs
``museum.view_auditevent`` and the DPO's ``privacy.view_subjectrequest``: the managers,
who read the general audit log, do not search people's traces.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User
from privacy.access_log import access_events

PAGE_SIZE = 50
REQUIRED_PERMISSIONS = ("museum.view_auditevent", "privacy.view_subjectrequest")


class AccessLogSearchForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("Person's e-mail address"), required=False)
    actor = forms.ModelChoiceField(
        label=gettext_lazy("Staff member"),
        queryset=User.objects.filter(is_staff=True).order_by("email"),
        required=False,
    )
    since = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=gettext_lazy("Until (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            raise forms.ValidationError(gettext_lazy("The end of the range is before its start."))
        return data


def _start_of(day: dt.date | None) -> dt.datetime | None:
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def access_log_view(request: HttpRequest) -> HttpResponse:
    """The search form and one page of matching events (GET only; no side effects)."""
    if not request.user.has_perms(REQUIRED_PERMISSIONS):
        raise PermissionDenied
    form = AccessLogSearchForm(request.GET or None)
    page = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        until = data["until"] + dt.timedelta(days=1) if data["until"] else None
        events = access_events(
            email=data["email"] or None,
            actor=data["actor"],
            since=_start_of(data["since"]),
            until=_start_of(until),
        ).only("occurred_at", "actor_label", "action", "subject_type", "subject_id", "data")
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **admin.site.each_context(request),
        "title": _("Access log"),
        "form": form,
        "page": page,
        "query": query.urlencode(),
    }
    return TemplateResponse(request, "admin/privacy/access_log.html", context)


access_log = admin.site.admin_view(access_log_view)
