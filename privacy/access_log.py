"""Who saw whose personal data in the admin, and when: the access log.

Every staff view of a person's data in the admin writes an audit event: the change page
and the history page of one record ("personal_data.viewed"), a printed document of it
(the same action, ``view`` "pdf"), and each changelist page that shows names or e-mail
addresses ("personal_data.listed", with the number of rows shown). The person is named by
a keyed hash of their e-mail address (:func:`person_key`), never by the address itself, so
that the log does not become one more copy of the data it watches; the DPO finds a
person's events by hashing the address they search for the same way.

A ModelAdmin of a person-linked model takes :class:`AccessLogMixin` first in its bases and
says where the address is (``access_log_email``: a field name, or a callable of the
object). One request writes at most one event per record and action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.crypto import salted_hmac

from museum.audit import audit_record
from museum.models import AuditEvent

VIEWED = "personal_data.viewed"
LISTED = "personal_data.listed"
ACTIONS = (VIEWED, LISTED)
_KEY_SALT = "privacy.access_log.person"
_LOGGED_ATTR = "_privacy_access_logged"


def person_key(email: str | None) -> str:
    """The keyed hash naming a person in the access log: HMAC-SHA256 of the e-mail address.

    The address is compared as the shop matches it (case and surrounding blanks ignored).
    The key is derived from ``settings.SECRET_KEY``: without it the hash cannot be tested
    against guessed addresses. An empty address gives "". No side effects.
    """
    normalised = (email or "").strip().lower()
    if not normalised:
        return ""
    return salted_hmac(_KEY_SALT, normalised, algorithm="sha256").hexdigest()


def _first_time(request: HttpRequest, key: tuple[str, str, str]) -> bool:
    logged = getattr(request, _LOGGED_ATTR, None)
    if logged is None:
        logged = set()
        setattr(request, _LOGGED_ATTR, logged)
    if key in logged:
        return False
    logged.add(key)
    return True


def access_record_viewed(
    *, request: HttpRequest, obj: models.Model, email: str | None, view: str
) -> AuditEvent | None:
    """Record that ``request.user`` saw the personal data of ``obj`` (belonging to ``email``).

    ``view`` says where ("change", "history", "pdf"). Side effects: one AuditEvent
    "personal_data.viewed" (subject ``obj``), unless this request already recorded that
    view of ``obj``; then nothing, and None is returned.
    """
    label = obj._meta.label_lower
    if not _first_time(request, (VIEWED, label, str(obj.pk))):
        return None
    return audit_record(
        action=VIEWED,
        subject=obj,
        actor=request.user,
        data={"model": label, "person": person_key(email), "view": view},
    )


def access_record_listed(
    *, request: HttpRequest, model: type[models.Model], emails: Iterable[str | None]
) -> AuditEvent | None:
    """Record that ``request.user`` saw one changelist page of ``model`` naming these people.

    Side effects: one AuditEvent "personal_data.listed" for the model (subject id empty)
    with the number of rows shown and the keyed hashes of the people on the page, unless
    this request already recorded it; then nothing, and None is returned.
    """
    label = model._meta.label_lower
    if not _first_time(request, (LISTED, label, "")):
        return None
    emails = list(emails)
    persons = sorted({key for key in map(person_key, emails) if key})
    return audit_record(
        action=LISTED,
        subject=SimpleNamespace(_meta=model._meta, pk=""),  # type: ignore[arg-type]
        actor=request.user,
        data={"model": label, "rows": len(emails), "persons": persons},
    )


class AccessLogMixin:
    """For the ModelAdmin of a model holding a person's data: log who looks at it.

    Put it first in the bases. ``access_log_email`` is the field holding the person's
    address, or a callable taking the object and returning it. Only successful GETs are
    logged (a POST that saves is the change's own audit, a refused view showed nothing).
    """

    access_log_email: str | Callable[[Any], str | None] = "email"

    def access_log_email_of(self, obj: Any) -> str | None:
        if callable(self.access_log_email):
            return self.access_log_email(obj)
        return getattr(obj, self.access_log_email, None)

    def _log_object_view(self, request: HttpRequest, response: HttpResponse, view: str, name: str):
        if request.method != "GET" or response.status_code != 200:
            return
        if not isinstance(response, TemplateResponse) or not response.context_data:
            return
        obj = response.context_data.get(name)
        if obj is not None and getattr(obj, "pk", None) is not None:
            access_record_viewed(
                request=request, obj=obj, email=self.access_log_email_of(obj), view=view
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._log_object_view(request, response, "change", "original")
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._log_object_view(request, response, "history", "object")
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method != "GET" or response.status_code != 200:
            return response
        if not isinstance(response, TemplateResponse) or not response.context_data:
            return response
        changelist = response.context_data.get("cl")
        if changelist is not None:
            # Evaluates the page's rows once; the template then renders the same list.
            rows = list(changelist.result_list)
            changelist.result_list = rows
            access_record_listed(
                request=request,
                model=self.model,
                emails=[self.access_log_email_of(row) for row in rows],
            )
        return response

    def access_log_document(self, request: HttpRequest, response: HttpResponse, obj: Any):
        """Log a printed document of ``obj`` (a PDF view) once it was served."""
        if request.method == "GET" and response.status_code == 200 and obj is not None:
            access_record_viewed(
                request=request, obj=obj, email=self.access_log_email_of(obj), view="pdf"
            )
        return response


def access_events(
    *,
    email: str | None = None,
    actor: Any = None,
    since: Any = None,
    until: Any = None,
) -> models.QuerySet[AuditEvent]:
    """The access log, newest first, narrowed to a person, a staff member and a time range.

    ``email`` is hashed as :func:`person_key` does: an event matches if it names that person
    (a record viewed) or lists them (a changelist page). ``since``/``until`` are aware
    datetimes, ``until`` exclusive. No side effects.
    """
    events = AuditEvent.objects.filter(action__in=ACTIONS)
    key = person_key(email)
    if email is not None and email.strip():
        events = events.filter(models.Q(data__person=key) | models.Q(data__persons__contains=[key]))
    if actor is not None:
        events = events.filter(actor=actor)
    if since is not None:
        events = events.filter(occurred_at__gte=since)
    if until is not None:
        events = events.filter(occurred_at__lt=until)
    return events.order_by("-occurred_at", "-id")
