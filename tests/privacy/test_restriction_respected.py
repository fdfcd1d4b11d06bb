"""Restriction of processing and objection to marketing are respected by the outbox and the
newsletter: no marketing e-mail is stored or sent to such an address, transactional ones are."""

from __future__ import annotations

import pytest
from django.utils import timezone

from museum.emails import MARKETING, email_enqueue
from museum.models import AuditEvent, OutboxEmail
from newsletter.models import NewsletterConsent
from newsletter.selectors import newsletter_may_send
from newsletter.services import consent_record
from privacy.models import ProcessingRestriction
from privacy.selectors import is_restricted, restriction_for

pytestmark = pytest.mark.django_db

CONTEXT = {"order_code": "X", "name": "Ana", "order_url": "http://testserver/"}


def _enqueue(to: str, *, key: str = "test:letter", **kwargs) -> OutboxEmail | None:
    return email_enqueue(
        dedupe_key=key,
        to=to,
        template="ticketing/late_payment_refund",
        context=CONTEXT,
        language="en",
        **kwargs,
    )


def _restrict(email: str, kind=ProcessingRestriction.Kind.MARKETING_OBJECTION, **kwargs):
    return ProcessingRestriction.objects.create(email=email, kind=kind, **kwargs)


def test_a_marketing_email_to_an_objecting_address_is_refused_and_the_refusal_recorded(
    django_capture_on_commit_callbacks,
):
    # given a person who objected to marketing
    objection = _restrict("ana@example.org")
    # when a marketing e-mail is queued for their address in another case
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = _enqueue(" Ana@Example.org", purpose=MARKETING)
    # then nothing is stored or sent, no error is raised, and the refusal is audited
    assert result is None
    assert OutboxEmail.objects.count() == 0
    assert callbacks == []
    event = AuditEvent.objects.get()
    assert event.action == "email.refused_restricted"
    assert (event.subject_type, event.subject_id) == (
        "privacy.processingrestriction",
        str(objection.pk),
    )
    assert event.data == {
        "dedupe_key": "test:letter",
        "template": "ticketing/late_payment_refund",
        "purpose": "marketing",
        "kind": "marketing",
    }


def test_a_restriction_of_processing_refuses_marketing_too():
    _restrict("ana@example.org", kind=ProcessingRestriction.Kind.RESTRICTION)
    assert _enqueue("ana@example.org", purpose=MARKETING) is None
    assert OutboxEmail.objects.count() == 0
    assert AuditEvent.objects.get().data["kind"] == "restriction"


def test_transactional_emails_still_reach_an_objecting_or_restricted_person():
    # given both kinds of restriction in force for the address
    _restrict("ana@example.org")
    _restrict("ana@example.org", kind=ProcessingRestriction.Kind.RESTRICTION)
    # when their tickets are e-mailed (the default purpose)
    email = _enqueue("ana@example.org", key="test:tickets")
    # then the e-mail is queued as usual and no refusal is recorded
    assert email is not None
    assert OutboxEmail.objects.get().to == "ana@example.org"
    assert AuditEvent.objects.count() == 0


def test_marketing_goes_to_others_and_once_an_objection_is_lifted():
    _restrict("ana@example.org", lifted_at=timezone.now())
    _restrict("bob@example.org")
    lifted = _enqueue("ana@example.org", key="test:ana", purpose=MARKETING)
    other = _enqueue("eve@example.org", key="test:eve", purpose=MARKETING)
    assert lifted is not None and other is not None
    assert sorted(OutboxEmail.objects.values_list("to", flat=True)) == [
        "ana@example.org",
        "eve@example.org",
    ]
    assert AuditEvent.objects.count() == 0


def test_an_objection_counts_for_marketing_only_and_a_restriction_for_everything():
    objection = _restrict("ana@example.org")
    restriction = _restrict("bob@example.org", kind=ProcessingRestriction.Kind.RESTRICTION)
    assert restriction_for(email="ANA@example.org", purpose="marketing") == objection
    assert restriction_for(email="ana@example.org", purpose="transactional") is None
    assert restriction_for(email="bob@example.org", purpose="transactional") == restriction
    assert restriction_for(email="", purpose="marketing") is None
    assert is_restricted(email="ana@example.org", purpose="marketing") is True
    assert is_restricted(email="eve@example.org", purpose="marketing") is False


def test_the_newsletter_is_not_sent_to_an_objecting_subscriber():
    # given a person who objected to marketing, whose address is then ticked for the
    # newsletter (at a checkout anyone can type any address), and another subscriber
    _restrict("ana@example.org")
    for email in ("ana@example.org", "bob@example.org"):
        consent_record(
            email=email,
            name="",
            language="en",
            given=True,
            source=NewsletterConsent.Source.CHECKOUT,
        )
    # then only the other one may receive the newsletter; the consent itself stays recorded
    assert newsletter_may_send("ana@example.org") is False
    assert newsletter_may_send("bob@example.org") is True
    assert newsletter_may_send("eve@example.org") is False
    assert NewsletterConsent.objects.filter(email="ana@example.org", given=True).count() == 1
