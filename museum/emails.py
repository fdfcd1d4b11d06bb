"""The e-mail outbox: every e-mail of the platform is rendered, stored, then sent once.

Templates live in ``templates/emails/<app>/<name>.{subject.txt,txt,html}`` and are
rendered in the recipient's language. Attachments are not stored: the outbox row keeps a
reference (``{"kind": "ticketing.order_pdf", "ref": "<id>"}``) and the registered
renderer builds the file when the message is sent, so the outbox never holds a copy of
personal documents longer than the thing they belong to.

An e-mail may also be rendered when it is sent rather than when it is stored
(``email_enqueue_deferred``): the row keeps its template and a reference
(``{"kind": "ticketing.order_tickets", "ref": <id>}``) that the context builder registered
for that kind turns into the template's context. A service that holds row locks (placing
an order) stores such a row in its transaction, so the e-mail is never lost, without
rendering three templates while the locks are held. The rendered subject and bodies are
written to the row when it has been sent.

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
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from museum.models import OutboxEmail

logger = logging.getLogger(__name__)

# kind -> callable(ref) returning (filename, content bytes, mimetype)
AttachmentRenderer = Callable[[str], tuple[str, bytes, str]]
_ATTACHMENT_RENDERERS: dict[str, AttachmentRenderer] = {}
# kind -> callable(context_ref) returning the template's context, read when sending
ContextBuilder = Callable[[dict[str, Any]], dict[str, Any]]
_CONTEXT_BUILDERS: dict[str, ContextBuilder] = {}

STALE_CLAIM = dt.timedelta(minutes=10)

TRANSACTIONAL = "transactional"
MARKETING = "marketing"


def register_attachment(kind: str) -> Callable[[AttachmentRenderer], AttachmentRenderer]:
    """Register a renderer for an attachment kind (done once, in an app's ready())."""

    def decorator(func: AttachmentRenderer) -> AttachmentRenderer:
        _ATTACHMENT_RENDERERS[kind] = func
        return func

    return decorator


def register_context(kind: str) -> Callable[[ContextBuilder], ContextBuilder]:
    """Register the context builder of a deferred e-mail kind (done at import, from ready()).

    The builder receives the row's ``context_ref`` and runs in the recipient's language
    when the e-mail is sent; it reads only (no side effects) and raises when what it
    refers to is gone, which fails the send.
    """

    def decorator(func: ContextBuilder) -> ContextBuilder:
        _CONTEXT_BUILDERS[kind] = func
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


def email_enqueue_deferred(
    *,
    dedupe_key: str,
    to: str,
    template: str,
    context_ref: dict[str, Any],
    language: str,
    attachments: list[dict[str, str]] | None = None,
) -> OutboxEmail:
    """Store a transactional e-mail rendered when sent, and send it once the transaction commits.

    Nothing is rendered here: ``context_ref`` (``{"kind": …, "ref": …}``, the kind
    registered with ``register_context``) is stored with ``template``, and the send task
    builds the context and renders subject, text and HTML in ``language``. The same
    ``dedupe_key`` never produces a second e-mail: enqueuing it again returns the stored row.
    Side effects: an OutboxEmail row; a Celery task queued after commit.
    Raises: KeyError when ``context_ref``'s kind has no registered builder.
    """
    if context_ref["kind"] not in _CONTEXT_BUILDERS:
        raise KeyError(f"no e-mail context builder registered for {context_ref['kind']!r}")
    email = OutboxEmail(
        dedupe_key=dedupe_key,
        to=to,
        language=language,
        template=template,
        context_ref=context_ref,
        attachments=attachments or [],
    )
    # One statement, no lookup nor savepoint first: the caller may hold row locks.
    if not _insert_unless_key_taken(email):
        return OutboxEmail.objects.get(dedupe_key=dedupe_key)
    from museum.tasks import send_email

    transaction.on_commit(lambda: send_email.delay(email.pk))
    return email


def _insert_unless_key_taken(email: OutboxEmail) -> bool:
    """INSERT the row unless its dedupe_key is stored already; True (and its pk set) if new."""
    fields = [f for f in OutboxEmail._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(email, add=True), connection) for f in fields]
    quote = connection.ops.quote_name
    table = quote(OutboxEmail._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    params = ", ".join(["%s"] * len(fields))
    # Only names from the model's metadata are formatted in; the values are parameters.
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({params}) "  # noqa: S608
        f'ON CONFLICT ("dedupe_key") DO NOTHING RETURNING "id"'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    email.pk = row[0]
    email._state.adding = False
    return True


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
    mail provider), so two runs of the task never both send. A deferred e-mail is rendered
    here, in its language, and keeps its subject and bodies once sent. A failure (of the
    rendering too) puts the row back in the queue for a retry.
    Raises: whatever the context builder, the templates or the mail backend raise, after
    recording it.
    """
    now = now or timezone.now()
    claimed = OutboxEmail.objects.filter(
        pk=email_id, status__in=[OutboxEmail.Status.QUEUED, OutboxEmail.Status.FAILED]
    ).update(status=OutboxEmail.Status.SENDING, claimed_at=now)
    if not claimed:
        return False
    email = OutboxEmail.objects.get(pk=email_id)
    rendered: dict[str, str] = {}
    try:
        if email.context_ref and not email.body_text:
            rendered = _render_deferred(email)
        message = EmailMultiAlternatives(
            subject=rendered.get("subject", email.subject),
            body=rendered.get("body_text", email.body_text),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[email.to],
        )
        body_html = rendered.get("body_html", email.body_html)
        if body_html:
            message.attach_alternative(body_html, "text/html")
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
        # A deferred e-mail keeps what was sent, as a rendered one does.
        **rendered,
    )
    return True


def _render_deferred(email: OutboxEmail) -> dict[str, str]:
    """Subject and bodies of a deferred e-mail, from its registered context builder."""
    builder = _CONTEXT_BUILDERS[email.context_ref["kind"]]
    with translation.override(email.language):
        context = builder(email.context_ref)
    subject, text, html = render_email(
        template=email.template, context=context, language=email.language
    )
    return {"subject": subject[:300], "body_text": text, "body_html": html}


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
