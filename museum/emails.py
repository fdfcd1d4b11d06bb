"""The e-mail outbox: every e-mail of the platform is rendered, stored, then sent once.

Templates live in ``templates/emails/<app>/<name>.{subject.txt,txt,html}`` and are
rendered in the recipient's language. Attachments are not stored: the outbox row keeps a
reference (``{"kind": "ticketing.order_pdf", "ref": "<id>"}``) and the registered
renderer builds the file when the message is sent, so the outbox never holds a copy of
personal documents longer than the thing they belong to.

Each e-mail has a purpose: ``TRANSACTIONAL`` (tickets, cards, answers to requests: the
default) or ``MARKETING`` (newsletters, offers). A marketing e-mail to an address whose
holder restricted processing or objected to marketing is not stored nor sent: the refusal
is an audit event on the restriction, and the caller carries on as if it had been queued.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from museum.models import OutboxEmail

logger = logging.getLogger(__name__)

# kind -> callable(ref) returning (filename, content bytes, mimetype)
AttachmentRenderer = Callable[[str], tuple[str, bytes, str]]
_ATTACHMENT_RENDERERS: dict[str, AttachmentRenderer] = {}

STALE_CLAIM = dt.timedelta(minutes=10)

TRANSACTIONAL = "transactional"
MARKETING = "marketing"


def register_attachment(kind: str) -> Callable[[AttachmentRenderer], AttachmentRenderer]:
    """Register a renderer for an attachment kind (done once, in an app's ready())."""

    def decorator(func: AttachmentRenderer) -> AttachmentRenderer:
        _ATTACHMENT_RENDERERS[kind] = func
        return func

    return decorator


def render_email(*, template: str, context: dict[str, Any], language: str) -> tuple[str, str, str]:
    """Render subject, text and HTML of ``template`` in ``language``; no side effects."""
    with translation.override(language):
        ctx = {"site_url": settings.SITE_URL, "museum_name": settings.MUSEUM_NAME, **context}
        subject = render_to_string(f"emails/{template}.subject.txt", ctx).strip()
        text = render_to_string(f"emails/{template}.txt", ctx)
        html = render_to_string(f"emails/{template}.html", ctx)
    return " ".join(subject.split()), text, html


def email_enqueue(
    *,
    dedupe_key: str,
    to: str,
    template: str,
    context: dict[str, Any],
    language: str,
    attachments: list[dict[str, str]] | None = None,
    purpose: str = TRANSACTIONAL,
) -> OutboxEmail | None:
    """Store an e-mail in the outbox and send it from a task once the transaction commits.

    The same ``dedupe_key`` never produces a second e-mail: enqueuing it again returns the
    stored row (use a new key, e.g. with a counter, for a deliberate resend). A
    ``MARKETING`` e-mail to a restricted or objecting address returns None and stores
    nothing (privacy.selectors.restriction_for).
    Side effects: an OutboxEmail row; a Celery task queued after commit; or, for a refused
    marketing e-mail, an audit event "email.refused_restricted" on the restriction.
    """
    if purpose != TRANSACTIONAL and _refused_for_restriction(
        to=to, purpose=purpose, dedupe_key=dedupe_key, template=template
    ):
        return None
    existing = OutboxEmail.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    subject, text, html = render_email(template=template, context=context, language=language)
    try:
        with transaction.atomic():
            email = OutboxEmail.objects.create(
                dedupe_key=dedupe_key,
                to=to,
                language=language,
                subject=subject,
                body_text=text,
                body_html=html,
                attachments=attachments or [],
            )
    except IntegrityError:
        return OutboxEmail.objects.get(dedupe_key=dedupe_key)
    from museum.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(email.pk))
    return email


def _refused_for_restriction(*, to: str, purpose: str, dedupe_key: str, template: str) -> bool:
    """True (after recording why) when the holder of ``to`` restricted this purpose."""
    from museum.audit import audit_record
    from privacy.selectors import restriction_for

    restriction = restriction_for(email=to, purpose=purpose)
    if restriction is None:
        return False
    # The address stays out of the log: the audit row points to the restriction instead.
    logger.info("E-mail %s (%s) not queued: %s in force", dedupe_key, purpose, restriction.kind)
    audit_record(
        action="email.refused_restricted",
        subject=restriction,
        data={
            "dedupe_key": dedupe_key,
            "template": template,
            "purpose": purpose,
            "kind": restriction.kind,
        },
    )
    return True


@dataclass(frozen=True)
class EmailToQueue:
    """One transactional e-mail for ``email_enqueue_many``."""

    dedupe_key: str
    to: str
    template: str
    context: dict[str, Any]
    language: str


def email_enqueue_many(emails: list[EmailToQueue]) -> list[OutboxEmail]:
    """Store many transactional e-mails at once (a campaign's chunk); each is sent once.

    Keys already in the outbox are skipped, so a retried chunk never sends twice. Rendering
    is the same as ``email_enqueue``'s; the rows are written in one statement and one send
    task per row is queued after commit.
    Side effects: OutboxEmail rows; Celery tasks queued after commit.
    """
    if not emails:
        return []
    taken = set(
        OutboxEmail.objects.filter(dedupe_key__in=[e.dedupe_key for e in emails]).values_list(
            "dedupe_key", flat=True
        )
    )
    rows = []
    for item in emails:
        if item.dedupe_key in taken:
            continue
        taken.add(item.dedupe_key)
        subject, text, html = render_email(
            template=item.template, context=item.context, language=item.language
        )
        rows.append(
            OutboxEmail(
                dedupe_key=item.dedupe_key,
                to=item.to,
                language=item.language,
                subject=subject,
                body_text=text,
                body_html=html,
                attachments=[],
            )
        )
    created = OutboxEmail.objects.bulk_create(rows)
    from museum.tasks import send_email

    ids = [row.pk for row in created]
    transaction.on_commit(lambda: [send_email.delay(pk) for pk in ids])
    return created


def email_enqueue_rendered(
    *,
    dedupe_key: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str,
    language: str,
) -> OutboxEmail:
    """Store an e-mail rendered elsewhere (allauth's adapter) and send it after commit.

    The same outbox, claim and send path as ``email_enqueue``; the same ``dedupe_key``
    never produces a second e-mail.
    Side effects: an OutboxEmail row; a Celery task queued after commit.
    """
    existing = OutboxEmail.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            email = OutboxEmail.objects.create(
                dedupe_key=dedupe_key,
                to=to,
                language=language,
                subject=" ".join(subject.split())[:300],
                body_text=body_text,
                body_html=body_html,
            )
    except IntegrityError:
        return OutboxEmail.objects.get(dedupe_key=dedupe_key)
    from museum.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(email.pk))
    return email


def email_send(*, email_id: int, now: dt.datetime | None = None) -> bool:
    """Send one outbox e-mail if nobody has sent or claimed it; returns True if sent now.

    The row is claimed with a conditional UPDATE (no lock is held while talking to the
    mail provider), so two runs of the task never both send. A failure puts the row back
    in the queue for a retry. Raises: whatever the mail backend raises, after recording it.
    """
    now = now or timezone.now()
    claimed = OutboxEmail.objects.filter(
        pk=email_id, status__in=[OutboxEmail.Status.QUEUED, OutboxEmail.Status.FAILED]
    ).update(status=OutboxEmail.Status.SENDING, claimed_at=now)
    if not claimed:
        return False
    email = OutboxEmail.objects.get(pk=email_id)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    try:
        for item in email.attachments:
            filename, content, mimetype = _ATTACHMENT_RENDERERS[item["kind"]](item["ref"])
            message.attach(filename, content, mimetype)
        message.send()
    except Exception as exc:
        OutboxEmail.objects.filter(pk=email_id).update(
            status=OutboxEmail.Status.FAILED,
            attempts=email.attempts + 1,
            last_error=repr(exc)[:2000],
        )
        raise
    status = getattr(message, "anymail_status", None)
    OutboxEmail.objects.filter(pk=email_id).update(
        status=OutboxEmail.Status.SENT,
        sent_at=timezone.now(),
        attempts=email.attempts + 1,
        provider_message_id=(getattr(status, "message_id", None) or "")[:200],
        last_error="",
    )
    return True


def emails_requeue_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Ids of e-mails that are still queued, failed, or were claimed by a worker that died.

    A claim older than STALE_CLAIM is released so that the e-mail can be sent again.
    Side effects: stale claims go back to FAILED.
    """
    now = now or timezone.now()
    OutboxEmail.objects.filter(
        status=OutboxEmail.Status.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(status=OutboxEmail.Status.FAILED)
    return list(
        OutboxEmail.objects.filter(
            status__in=[OutboxEmail.Status.QUEUED, OutboxEmail.Status.FAILED],
            created_at__lt=now - dt.timedelta(minutes=1),
            attempts__lt=10,
        ).values_list("pk", flat=True)[:500]
    )
