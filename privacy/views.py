"""The public privacy notice, and the record of processing for staff (page and PDF).

Both are rendered from the declarations (privacy.registry): nothing here is written by
hand about what data is kept, why or for how long.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from museum.staff import StaffTwoFactorMiddleware
from privacy.documents import notice_pdf as render_notice_pdf
from privacy.documents import record_context
from privacy.documents import record_pdf as render_record_pdf
from privacy.selectors import privacy_contact, purpose_sections, supervisory_authority


def _url_or_none(name: str) -> str | None:
    """The URL of a page that may not exist yet (the subject request page comes later)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@require_GET
def notice(request: HttpRequest) -> HttpResponse:
    """The privacy notice: per purpose, the data, basis, recipients and retention; the rights."""
    return render(
        request,
        "privacy/notice.html",
        {
            "sections": purpose_sections(),
            "contact": privacy_contact(),
            "authority": supervisory_authority(),
            "request_url": _url_or_none("privacy:request"),
        },
    )


def _staff_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Staff only, as in the admin: signed in (else the admin's sign-in page), active
    staff, and with a second factor, which StaffTwoFactorMiddleware demands under /admin/
    and these pages, mounted under /privacy/, must demand themselves."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if StaffTwoFactorMiddleware._lacks_second_factor(request):
            messages.warning(
                request,
                _(
                    "Staff sign in with a second factor. Set up an authenticator app "
                    "to continue to the staff pages."
                ),
            )
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return view(request, *args, **kwargs)

    return admin.site.admin_view(guarded)


@require_GET
@_staff_page
def record(request: HttpRequest) -> HttpResponse:
    """The record of processing activities (Art. 30 GDPR), as an admin page."""
    return TemplateResponse(
        request,
        "privacy/record.html",
        {
            **admin.site.each_context(request),
            "title": _("Record of processing activities"),
            **record_context(),
        },
    )


@require_GET
@_staff_page
def record_pdf(request: HttpRequest) -> HttpResponse:
    """The record of processing as a PDF download, in the staff member's language."""
    now = timezone.now()
    pdf = render_record_pdf(language=translation.get_language() or settings.LANGUAGE_CODE, now=now)
    response = HttpResponse(pdf, content_type="application/pdf")
    filename = f"record-of-processing-{timezone.localdate(now):%Y-%m-%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def notice_pdf(request: HttpRequest) -> HttpResponse:
    """The privacy notice as a PDF, in the reader's language (public, like the notice)."""
    pdf = render_notice_pdf(language=translation.get_language() or settings.LANGUAGE_CODE)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="privacy-notice.pdf"'
    return response
