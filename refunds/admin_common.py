"""What the refunds' admin pages share: the permission check, the page render, a
service's refusal as one admin message line, and the masked IBAN shown in lists.

Used by ``refunds/admin_campaigns.py``, ``refunds/admin_refund_actions.py``,
``refunds/admin_transfers.py``, ``refunds/admin_reports.py`` and ``refunds/admin.py``.
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.template.response import TemplateResponse

from refunds.errors import RefundError


def _require(request: HttpRequest, *perms: str) -> None:
    if not request.user.has_perms(perms):
        raise PermissionDenied


def _render(
    request: HttpRequest, admin_site: AdminSite, template: str, title: str, context: dict
) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**admin_site.each_context(request), "title": title, **context},
    )


def _error_text(error: Exception) -> str:
    """What a service said no with, as one line for an admin message."""
    if isinstance(error, RefundError):
        return str(error.message)
    if isinstance(error, ValidationError):
        return " ".join(str(m) for m in error.messages)
    return str(error)


def mask_iban(iban: str) -> str:
    """An IBAN shown in lists: its country and its last four characters only."""
    if not iban:
        return ""
    return f"{iban[:2]}•• •••• {iban[-4:]}"
