"""A tampered admin action selection answers 400, not 500.

The admin's action form posts the keys of the chosen rows (``_selected_action``); Django
filters the changelist by them and the first query raises ValueError or ValidationError
when a key is not of the key's type (a browser never sends that; a crafted request can).
Nothing has been written at that point: the action's own query is the one that fails.
"""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import reverse
from django.utils.translation import gettext as _


class AdminBadSelectionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if (
            request.method == "POST"
            and isinstance(exception, ValueError | ValidationError)
            and request.path.startswith(reverse("admin:index"))
            and ACTION_CHECKBOX_NAME in request.POST
        ):
            return HttpResponseBadRequest(
                _("The selection sent is not valid: reload the list and choose again.")
            )
        return None
