"""The public privacy notice as a PDF, generated from the declarations like the page."""

from __future__ import annotations

import pypdfium2
import pytest
from django.urls import reverse

from privacy.registry import registry

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    document = pypdfium2.PdfDocument(pdf)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def test_the_notice_pdf_lists_every_declared_purpose(client):
    # when anyone downloads the notice as a PDF
    response = client.get(reverse("privacy:notice_pdf"))
    # then it is a PDF naming every purpose of the declarations
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(_text(response.content).split())
    for purpose in registry.purposes():
        assert " ".join(str(purpose.title).split()) in text


def test_the_notice_pdf_is_in_the_readers_language(client):
    # when a French reader downloads it
    response = client.get(reverse("privacy:notice_pdf"), HTTP_ACCEPT_LANGUAGE="fr")
    # then its heading is French
    assert "Avis de confidentialité" in _text(response.content) or "confidentialité" in _text(
        response.content
    )
