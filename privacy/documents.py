"""The privacy notice and the record of processing (Art. 30 GDPR) as PDFs, from the declarations."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from privacy.purposes import SECURITY_MEASURES
from privacy.selectors import privacy_contact, purpose_sections
from ticketing.documents import _font_config


def record_context(*, now: dt.datetime | None = None) -> dict:
    """What the record says, in the active language: one section per purpose."""
    return {
        "museum_name": settings.MUSEUM_NAME,
        "contact": privacy_contact(),
        "generated_at": timezone.localtime(now or timezone.now()),
        "sections": purpose_sections(),
        "security_measures": SECURITY_MEASURES,
    }


def record_pdf(*, language: str, now: dt.datetime | None = None) -> bytes:
    """The record of processing as an A4 PDF in ``language``; no side effects."""
    from weasyprint import HTML

    with translation.override(language):
        html = render_to_string("privacy/pdf/record.html", record_context(now=now))
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(font_config=_font_config())


def notice_context() -> dict:
    """What the public notice says, in the active language: one section per purpose."""
    from privacy.selectors import supervisory_authority

    return {
        "museum_name": settings.MUSEUM_NAME,
        "sections": purpose_sections(),
        "contact": privacy_contact(),
        "authority": supervisory_authority(),
        "request_url": settings.SITE_URL + "/privacy/request/",
    }


def notice_pdf(*, language: str) -> bytes:
    """The public privacy notice as an A4 PDF in ``language``; no side effects."""
    from weasyprint import HTML

    with translation.override(language):
        html = render_to_string("privacy/pdf/notice.html", notice_context())
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(font_config=_font_config())
