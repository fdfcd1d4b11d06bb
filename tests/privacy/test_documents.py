"""The generated documents: the public privacy notice and the record of processing."""

from __future__ import annotations

import pypdfium2
import pytest
from django.urls import reverse
from django.utils.html import escape

from privacy.registry import registry
from tests.accounts.factories import UserFactory
from tests.staff import staff_user

pytestmark = pytest.mark.django_db

NOTICE = reverse("privacy:notice")
RECORD = reverse("privacy:record")
RECORD_PDF = reverse("privacy:record_pdf")


def _text(html: str) -> str:
    return " ".join(html.split())


def shown(value) -> str:
    """``value`` as the template writes it (HTML-escaped)."""
    return escape(str(value))


def _pdf_text(content: bytes) -> str:
    document = pypdfium2.PdfDocument(content)
    pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    return " ".join(" ".join(pages).split())


# --- the public notice --------------------------------------------------------------------


def test_the_notice_lists_every_declared_purpose_with_its_basis_recipients_and_retention(client):
    # when anyone, signed in or not, opens the notice
    response = client.get(NOTICE)

    # then each declared purpose has its section with what the declarations say
    assert response.status_code == 200
    html = _text(response.content.decode())
    for purpose in registry.purposes():
        assert f'id="purpose-{purpose.code}"' in html
        assert shown(purpose.title) in html
    for declaration in registry.declarations:
        assert shown(declaration.legal_basis.label) in html, declaration.key
        assert shown(f"{declaration.title}: {declaration.retention_description}") in html
        for category in declaration.categories:
            assert shown(category.label) in html
        for recipient in declaration.recipients:
            assert shown(recipient.name) in html
        if declaration.legitimate_interest:
            assert shown(declaration.legitimate_interest) in html
    # a record without a clock of its own says what it goes with
    assert "Tickets: as long as the order it belongs to" in html


def test_the_notice_states_the_rights_and_where_to_ask(client):
    html = _text(client.get(NOTICE).content.decode())

    assert 'id="rights"' in html
    assert "a copy of your data, also in a machine-readable form" in html
    assert "to withdraw a consent at any time" in html
    assert "lodge a complaint with the data protection authority" in html
    # the request page comes later: until then, the contact address (the sender's address)
    assert 'href="mailto:tickets@museum.example"' in html
    assert "We answer within one month." in html


def test_the_notice_links_an_account_holder_to_their_own_pages(client):
    client.force_login(UserFactory())

    html = _text(client.get(NOTICE).content.decode())

    assert f'href="{reverse("my_account:home")}"' in html


def test_the_notice_names_the_configured_contact_and_authority(client, settings):
    settings.PRIVACY_CONTACT_EMAIL = "dpo@museum.example"
    settings.PRIVACY_SUPERVISORY_AUTHORITY = "Autorité de protection des données, Brussels"

    html = _text(client.get(NOTICE).content.decode())

    assert 'href="mailto:dpo@museum.example"' in html
    assert "tickets@museum.example" not in html
    assert "Autorité de protection des données, Brussels" in html


def test_the_notice_follows_the_visitors_language(client):
    response = client.get(NOTICE, HTTP_ACCEPT_LANGUAGE="fr")

    assert '<html lang="fr">' in response.content.decode()


def test_the_notice_is_read_only(client):
    assert client.post(NOTICE).status_code == 405


# --- the record of processing -------------------------------------------------------------


def test_the_record_page_shows_every_purpose_and_every_declared_field_to_staff(client):
    # given a staff member with a second factor (the DPO)
    client.force_login(staff_user("dpo@museum.example", "DPO"))

    # when they open the record of processing
    response = client.get(RECORD)

    # then every activity, and each declaration's fields and erasure, are listed
    assert response.status_code == 200
    html = _text(response.content.decode())
    assert "Record of processing activities" in html
    for purpose in registry.purposes():
        assert shown(purpose.title) in html
        assert shown(purpose.description) in html
    for declaration in registry.declarations:
        assert f"<code>{declaration.model_label}</code>: {', '.join(declaration.fields)}" in html
        assert shown(declaration.erasure.description) in html
    assert "Stripe may process data in the United States" in html  # a transfer
    assert f'href="{RECORD_PDF}"' in html


def test_the_record_pdf_renders_every_purpose(client):
    # given a staff member with a second factor
    client.force_login(staff_user("dpo@museum.example", "DPO"))

    # when they download the record as PDF
    response = client.get(RECORD_PDF)

    # then it is a PDF attachment whose text holds every purpose and declaration
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="record-of-processing-')
    text = _pdf_text(response.content)
    assert "Record of processing activities" in text
    for purpose in registry.purposes():
        assert str(purpose.title) in text
    for declaration in registry.declarations:
        assert declaration.model_label in text
    assert "Technical and organisational security measures" in text


@pytest.mark.parametrize("url", [RECORD, RECORD_PDF])
def test_the_record_is_not_for_visitors(client, url):
    # anonymous: sent to the staff sign-in
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("admin:login"))

    # a signed-in visitor (not staff): sent to the staff sign-in as well, nothing shown
    client.force_login(UserFactory())
    visitor = client.get(url)
    assert visitor.status_code == 302
    assert visitor["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("url", [RECORD, RECORD_PDF])
def test_the_record_needs_the_staff_second_factor(client, url):
    # given a staff member without an authenticator app
    client.force_login(staff_user("new@museum.example", "DPO", with_totp=False))

    # when they open the record
    response = client.get(url)

    # then they are sent to set one up first, as for every admin page
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")
