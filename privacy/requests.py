"""Subject requests (Art. 15-21 GDPR) from receipt to answer: every write is a service here.

A person asks on the public page; a request whose address is not proven waits for the
person to follow a signed, expiring, single-use link; a verified request has a legal
deadline of one month (Art. 12(3)), which the DPO may extend by at most two more months
with a reason. The DPO assigns, notes, and acts: sends the copy of the data (a signed
download link), applies a restriction or objection, or closes; erasure is in
``privacy.erasure``. Each change writes a SubjectRequestEvent in the same transaction;
e-mails go through the outbox after commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from museum.audit import audit_record
from museum.emails import email_enqueue
from privacy.models import ProcessingRestriction, SubjectRequest, SubjectRequestEvent

VERIFY_SALT = "privacy.subject-request.verify"
DOWNLOAD_SALT = "privacy.subject-request.download"
VERIFY_MAX_AGE = dt.timedelta(hours=24)
DOWNLOAD_MAX_AGE = dt.timedelta(days=7)
ANSWER_WITHIN = relativedelta(months=1)
LONGEST_EXTENSION = relativedelta(months=2)
OPEN_STATUSES = (SubjectRequest.Status.OPEN, SubjectRequest.Status.IN_PROGRESS)


class SubjectRequestError(Exception):
    """A request cannot do what was asked; ``str(error)`` is the translated reason."""


# --- small helpers ---------------------------------------------------------------------------


def _event(
    request: SubjectRequest, *, action: str, actor: Any = None, note: str = "", now: dt.datetime
) -> SubjectRequestEvent:
    return SubjectRequestEvent.objects.create(
        request=request,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        note=note[:5000],
    )


def _locked(request: SubjectRequest) -> SubjectRequest:
    return SubjectRequest.objects.select_for_update().get(pk=request.pk)


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def request_deadline(request: SubjectRequest) -> dt.date | None:
    """The day the answer is due: the extended day when there is one, else ``due_on``."""
    return request.extended_to or request.due_on


def request_is_urgent(request: SubjectRequest, *, today: dt.date | None = None) -> bool:
    """True for an unanswered request whose deadline is past or at most three days away."""
    deadline = request_deadline(request)
    if deadline is None or request.status not in OPEN_STATUSES:
        return False
    today = today or timezone.localdate()
    return deadline - today <= dt.timedelta(days=3)


# --- receipt and verification ----------------------------------------------------------------


def verification_token(request: SubjectRequest) -> str:
    """The signed token of the request's confirmation link (no side effects)."""
    return signing.dumps({"r": str(request.public_id)}, salt=VERIFY_SALT)


def request_submit(
    *,
    kind: str,
    email: str,
    message: str = "",
    language: str,
    user: Any = None,
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """Receive a subject request from the public page.

    A signed-in account holder asking about their own account's address is verified at
    once (signing in proved it); anyone else gets a confirmation link by e-mail, whether
    or not the address is known to the museum (the answer never tells).
    Side effects: a SubjectRequest and its "received" event; either the verification
    (see ``request_verify``) or a confirmation e-mail in the outbox.
    Raises: SubjectRequestError for an unknown kind.
    """
    if kind not in SubjectRequest.Kind.values:
        raise SubjectRequestError(_("Please choose what you are asking for."))
    now = now or timezone.now()
    email = email.strip().lower()
    account = user if getattr(user, "is_authenticated", False) else None
    own_address = account is not None and (account.email or "").strip().lower() == email
    with transaction.atomic():
        request = SubjectRequest.objects.create(
            kind=kind,
            email=email,
            user=account if own_address else None,
            language=language,
            message=message.strip(),
        )
        _event(request, action="received", actor=account, now=now)
        if own_address:
            _verify(request, now=now, note=_("Signed in to the account with this address."))
        else:
            link = _absolute(reverse("privacy:request_verify", args=[verification_token(request)]))
            email_enqueue(
                dedupe_key=f"privacy.request.verify:{request.public_id}",
                to=email,
                template="privacy/request_verify",
                context={
                    "kind": request.get_kind_display(),
                    "link": link,
                    "hours": int(VERIFY_MAX_AGE.total_seconds() // 3600),
                },
                language=language,
            )
    return request


def _verify(request: SubjectRequest, *, now: dt.datetime, note: str = "") -> None:
    request.status = SubjectRequest.Status.OPEN
    request.verified_at = now
    request.due_on = timezone.localdate(now) + ANSWER_WITHIN
    request.save(update_fields=["status", "verified_at", "due_on", "updated_at"])
    _event(request, action="verified", note=note, now=now)


def request_verify(*, token: str, now: dt.datetime | None = None) -> SubjectRequest:
    """Confirm a request by its e-mailed link: it opens, due one month from today.

    Side effects: status OPEN, verified_at, due_on, a "verified" event.
    Raises: SubjectRequestError (translated) when the link is tampered with, older than
    24 hours, already used, or its request is gone; nothing changes then.
    """
    now = now or timezone.now()
    try:
        data = signing.loads(token, salt=VERIFY_SALT, max_age=VERIFY_MAX_AGE)
    except signing.SignatureExpired:
        raise SubjectRequestError(
            _("This link has expired. Please send your request again.")
        ) from None
    except signing.BadSignature:
        raise SubjectRequestError(
            _("This link is not valid. Please use the link from the e-mail exactly as it is.")
        ) from None
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().filter(public_id=data.get("r")).first()
        if request is None:
            raise SubjectRequestError(_("This link is not valid."))
        if request.status != SubjectRequest.Status.AWAITING_VERIFICATION:
            raise SubjectRequestError(
                _("This link has already been used: your request is confirmed.")
            )
        _verify(request, now=now)
    return request


# --- the DPO's work --------------------------------------------------------------------------


def _require_open(request: SubjectRequest) -> None:
    if request.status not in OPEN_STATUSES:
        raise SubjectRequestError(_("This request is not open."))


def request_assign(
    *, request: SubjectRequest, assignee: Any, actor: Any, now: dt.datetime | None = None
) -> SubjectRequest:
    """Give the request to a staff member (None: to nobody); an open request is then in
    progress.

    Side effects: assignee, status IN_PROGRESS (from OPEN), an "assigned" event.
    Raises: SubjectRequestError when the request is not open.
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        request.assignee = assignee
        if assignee is not None:
            request.status = SubjectRequest.Status.IN_PROGRESS
        request.save(update_fields=["assignee", "status", "updated_at"])
        label = assignee.get_username() if assignee is not None else _("nobody")
        _event(request, action="assigned", actor=actor, note=label, now=now)
    return request


def request_note(
    *, request: SubjectRequest, note: str, actor: Any, now: dt.datetime | None = None
) -> SubjectRequestEvent:
    """Add an internal note to the request's trail (never shown to the person).

    Side effects: a "note" event.
    Raises: SubjectRequestError for an empty note.
    """
    if not note.strip():
        raise SubjectRequestError(_("Write the note first."))
    return _event(request, action="note", actor=actor, note=note.strip(), now=now or timezone.now())


def request_extend(
    *,
    request: SubjectRequest,
    until: dt.date,
    reason: str,
    actor: Any,
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """Extend the deadline to ``until``, at most two months after the first one (Art. 12(3)).

    The person is told, with the reason. Side effects: extended_to, extension_reason, an
    "extended" event, an e-mail in the outbox.
    Raises: SubjectRequestError without a reason, for a day not after the current
    deadline or more than two months after ``due_on``, or for a request not open.
    """
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise SubjectRequestError(_("An extension needs a reason (Art. 12(3) GDPR)."))
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        current = request_deadline(request)
        if current is not None and until <= current:
            raise SubjectRequestError(_("The new deadline must be after the current one."))
        if until > request.due_on + LONGEST_EXTENSION:
            raise SubjectRequestError(
                _("The deadline can be extended by two months at most (Art. 12(3) GDPR).")
            )
        request.extended_to = until
        request.extension_reason = reason
        request.save(update_fields=["extended_to", "extension_reason", "updated_at"])
        _event(request, action="extended", actor=actor, note=f"{until:%Y-%m-%d}: {reason}", now=now)
        email_enqueue(
            dedupe_key=f"privacy.request.extended:{request.public_id}:{until:%Y%m%d}",
            to=request.email,
            template="privacy/request_extended",
            context={"kind": request.get_kind_display(), "until": until, "reason": reason},
            language=request.language,
        )
    return request


def _close(
    request: SubjectRequest,
    *,
    status: str,
    outcome: str,
    actor: Any,
    action: str,
    now: dt.datetime,
    template: str = "privacy/request_closed",
    context: dict[str, Any] | None = None,
) -> None:
    request.status = status
    request.closed_at = now
    request.outcome = outcome
    request.save(update_fields=["status", "closed_at", "outcome", "updated_at"])
    _event(request, action=action, actor=actor, note=outcome, now=now)
    email_enqueue(
        dedupe_key=f"privacy.request.closed:{request.public_id}",
        to=request.email,
        template=template,
        context={
            "kind": request.get_kind_display(),
            "outcome": outcome,
            "refused": status == SubjectRequest.Status.REFUSED,
            **(context or {}),
        },
        language=request.language,
    )


def request_close(
    *,
    request: SubjectRequest,
    outcome: str,
    actor: Any,
    refused: bool = False,
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """Close a request with the answer given (rectification done, or a refusal and why).

    Side effects: status DONE or REFUSED, closed_at, outcome, a "closed" event, the
    answer e-mailed to the person.
    Raises: SubjectRequestError without an answer or for a request not open.
    """
    if not outcome.strip():
        raise SubjectRequestError(_("Write the answer given to the person."))
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        status = SubjectRequest.Status.REFUSED if refused else SubjectRequest.Status.DONE
        _close(
            request,
            status=status,
            outcome=outcome.strip(),
            actor=actor,
            action="refused" if refused else "closed",
            now=now,
        )
    return request


def request_apply_restriction(
    *, request: SubjectRequest, actor: Any, now: dt.datetime | None = None
) -> ProcessingRestriction:
    """Apply a restriction of processing or an objection to marketing, and close the request.

    Side effects: a ProcessingRestriction (restriction, or marketing objection), status
    DONE, an "applied" event, a confirmation e-mail.
    Raises: SubjectRequestError for other kinds of request or a request not open.
    """
    kinds: dict[str, str] = {
        SubjectRequest.Kind.RESTRICTION: ProcessingRestriction.Kind.RESTRICTION,
        SubjectRequest.Kind.OBJECTION: ProcessingRestriction.Kind.MARKETING_OBJECTION,
    }
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        if request.kind not in kinds:
            raise SubjectRequestError(_("Only a restriction or an objection can be applied."))
        restriction = ProcessingRestriction.objects.create(
            email=request.email, user=request.user, kind=kinds[request.kind], request=request
        )
        if request.kind == SubjectRequest.Kind.OBJECTION:
            outcome = _("You will receive no more marketing e-mail from us.")
        else:
            outcome = _("The processing of your data is restricted until you tell us otherwise.")
        _close(
            request,
            status=SubjectRequest.Status.DONE,
            outcome=outcome,
            actor=actor,
            action="applied",
            now=now,
        )
    return restriction


def restriction_lift(
    *, restriction: ProcessingRestriction, actor: Any, now: dt.datetime | None = None
) -> bool:
    """End a restriction of processing or an objection to marketing.

    The person is told by e-mail (Art. 18(3): a restriction is not lifted behind their
    back), in their request's language. Lifting twice changes nothing the second time.
    Returns True when this call lifted it.
    Side effects: ``lifted_at`` set, an audit event "privacy.restriction_lifted" (the kind
    only, no address), a confirmation e-mail.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            ProcessingRestriction.objects.select_for_update(of=("self",))
            .select_related("request")
            .get(pk=restriction.pk)
        )
        if locked.lifted_at is not None:
            return False
        locked.lifted_at = now
        locked.save(update_fields=["lifted_at", "updated_at"])
        audit_record(
            action="privacy.restriction_lifted",
            subject=locked,
            actor=actor,
            data={"kind": locked.kind},
            now=now,
        )
        email_enqueue(
            dedupe_key=f"privacy.restriction.lifted:{locked.pk}",
            to=locked.email,
            template="privacy/restriction_lifted",
            context={
                "objection": locked.kind == ProcessingRestriction.Kind.MARKETING_OBJECTION,
                "since": locked.created_at,
            },
            language=locked.request.language if locked.request else settings.LANGUAGE_CODE,
        )
    restriction.lifted_at = now
    return True


# --- access: the copy of the data ------------------------------------------------------------


def download_token(request: SubjectRequest) -> str:
    """The signed token of the request's download link (no side effects)."""
    return signing.dumps({"r": str(request.public_id), "e": request.email}, salt=DOWNLOAD_SALT)


def request_send_copy(
    *, request: SubjectRequest, actor: Any, now: dt.datetime | None = None
) -> SubjectRequest:
    """Send the person the copy of their data: an expiring signed link (JSON and PDF).

    The files are built when the link is followed, from the declarations of that moment.
    Side effects: status DONE, a "copy_sent" event, an e-mail with the links.
    Raises: SubjectRequestError for a request that is not an open access request.
    """
    now = now or timezone.now()
    with transaction.atomic():
        request = _locked(request)
        _require_open(request)
        if request.kind != SubjectRequest.Kind.ACCESS:
            raise SubjectRequestError(_("Only an access request gets a copy of the data."))
        path = reverse("privacy:download", args=[download_token(request)])
        _close(
            request,
            status=SubjectRequest.Status.DONE,
            outcome=_("A copy of the data was sent by an expiring link."),
            actor=actor,
            action="copy_sent",
            now=now,
            template="privacy/request_copy",
            context={
                "json_url": _absolute(path + "?format=json"),
                "pdf_url": _absolute(path + "?format=pdf"),
                "days": DOWNLOAD_MAX_AGE.days,
            },
        )
    return request


def download_request(*, token: str) -> SubjectRequest:
    """The access request a download link stands for (no side effects).

    Raises: SubjectRequestError when the link is tampered with or expired, or its
    request is not a completed access request for that same address.
    """
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_MAX_AGE)
    except signing.SignatureExpired:
        raise SubjectRequestError(
            _("This download link has expired. Please ask for a new copy.")
        ) from None
    except signing.BadSignature:
        raise SubjectRequestError(_("This download link is not valid.")) from None
    request = (
        SubjectRequest.objects.select_related("user")
        .filter(
            public_id=data.get("r"),
            email=data.get("e"),
            kind=SubjectRequest.Kind.ACCESS,
            status=SubjectRequest.Status.DONE,
        )
        .first()
    )
    if request is None:
        raise SubjectRequestError(_("This download link is not valid."))
    return request


def access_bundle_pdf(*, bundle: dict[str, Any], language: str) -> bytes:
    """The access bundle as a readable A4 PDF in ``language``; no side effects."""
    from django.template.loader import render_to_string
    from django.utils import translation
    from weasyprint import HTML

    from ticketing.documents import _font_config

    with translation.override(language):
        html = render_to_string(
            "privacy/request_copy_pdf.html",
            {"bundle": bundle, "museum_name": settings.MUSEUM_NAME},
        )
    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(font_config=_font_config())
