"""The DPO's console: the queue of subject requests, their trail, and the actions on them.

Thin: every action is a service of ``privacy.requests`` or ``privacy.erasure``. Seeing the
queue needs ``privacy.view_subjectrequest``; acting needs ``change_subjectrequest`` (and
``add_subjectrequestevent`` for a note). The DPO group gets them from
accounts/migrations/0006_dpo_request_permissions.py.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from privacy import (
    admin_consent,  # noqa: F401 - registers the trackers and visit statistics
    admin_retention,  # noqa: F401 - registers the retention admin
)
from privacy.access_log import AccessLogMixin
from privacy.erasure import erasure_preview, erasure_run
from privacy.models import ErasureRecord, ProcessingRestriction, SubjectRequest
from privacy.request_forms import AssignForm, CloseForm, ExtendForm, NoteForm
from privacy.requests import (
    OPEN_STATUSES,
    SubjectRequestError,
    request_apply_restriction,
    request_assign,
    request_close,
    request_deadline,
    request_extend,
    request_is_urgent,
    request_note,
    request_send_copy,
    restriction_lift,
)


@admin.register(SubjectRequest)
class SubjectRequestAdmin(AccessLogMixin, admin.ModelAdmin):
    """The queue, by deadline; the change page is the request's console."""

    list_display = ["kind", "email", "status", "deadline_display", "assignee", "created_at"]
    list_filter = ["status", "kind", "assignee"]
    search_fields = ["email"]
    list_select_related = ["assignee"]
    readonly_fields = [
        "public_id",
        "kind",
        "email",
        "user",
        "language",
        "message",
        "status",
        "created_at",
        "verified_at",
        "due_on",
        "extended_to",
        "extension_reason",
        "assignee",
        "closed_at",
        "outcome",
    ]
    fields = readonly_fields  # type: ignore[assignment]
    change_form_template = "admin/privacy/subjectrequest/change_form.html"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(deadline=Coalesce("extended_to", "due_on"))

    def get_ordering(self, request: HttpRequest):
        # The queue: the nearest deadline first; unconfirmed requests (no deadline) last.
        return [F("deadline").asc(nulls_last=True), "created_at"]

    @admin.display(description=gettext_lazy("answer due"), ordering="deadline")
    def deadline_display(self, obj: SubjectRequest) -> str:
        deadline = request_deadline(obj)
        if deadline is None:
            return "—"
        if request_is_urgent(obj):
            return format_html(
                '<strong style="color:#ba2121" class="overdue">{}</strong>', f"{deadline:%Y-%m-%d}"
            )
        return f"{deadline:%Y-%m-%d}"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests come from the public page only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # they are the proof that the museum answered

    def get_urls(self):
        site = self.admin_site
        return [
            path(
                "<int:pk>/act/<str:action>/",
                site.admin_view(require_POST(self.act_view)),
                name="privacy_subjectrequest_act",
            ),
            path(
                "<int:pk>/erasure/",
                site.admin_view(self.erasure_view),
                name="privacy_subjectrequest_erasure",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        context = {
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete_link": False,
            **(extra_context or {}),
        }
        if obj is not None:
            can_act = self.has_change_permission(request, obj)
            is_open = obj.status in OPEN_STATUSES
            context.update(
                {
                    "events": obj.events.select_related("actor"),
                    "can_act": can_act and is_open,
                    "can_note": can_act
                    and request.user.has_perm("privacy.add_subjectrequestevent"),
                    "assign_form": AssignForm(initial={"assignee": obj.assignee_id}),
                    "note_form": NoteForm(),
                    "extend_form": ExtendForm(),
                    "close_form": CloseForm(),
                    "deadline": request_deadline(obj),
                    "urgent": request_is_urgent(obj),
                    "Kind": SubjectRequest.Kind,
                }
            )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _acting_on(self, request: HttpRequest, pk: int) -> SubjectRequest:
        obj = get_object_or_404(SubjectRequest, pk=pk)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _back(self, obj: SubjectRequest) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:privacy_subjectrequest_change", args=[obj.pk]))

    def act_view(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        """One action on a request, posted from its console; back to the console after."""
        obj = self._acting_on(request, pk)
        actor = request.user
        try:
            if action == "assign":
                form = AssignForm(request.POST)
                if not form.is_valid():
                    raise SubjectRequestError(_("Choose a staff member."))
                request_assign(request=obj, assignee=form.cleaned_data["assignee"], actor=actor)
                done = _("The request is assigned.")
            elif action == "note":
                if not request.user.has_perm("privacy.add_subjectrequestevent"):
                    raise PermissionDenied
                form = NoteForm(request.POST)  # type: ignore[assignment]
                if not form.is_valid():
                    raise SubjectRequestError(_("Write the note first."))
                request_note(request=obj, note=form.cleaned_data["note"], actor=actor)
                done = _("The note is added to the trail.")
            elif action == "extend":
                form = ExtendForm(request.POST)  # type: ignore[assignment]
                if not form.is_valid():
                    raise SubjectRequestError(
                        _("Give the new deadline and the reason for the extension.")
                    )
                request_extend(
                    request=obj,
                    until=form.cleaned_data["until"],
                    reason=form.cleaned_data["reason"],
                    actor=actor,
                )
                done = _("The deadline is extended and the person is told why.")
            elif action == "send_copy":
                request_send_copy(request=obj, actor=actor)
                done = _("The copy is sent: the person received a download link.")
            elif action == "apply":
                request_apply_restriction(request=obj, actor=actor)
                done = _("Applied; the person is told.")
            elif action == "close":
                form = CloseForm(request.POST)  # type: ignore[assignment]
                if not form.is_valid():
                    raise SubjectRequestError(_("Write the answer given to the person."))
                request_close(
                    request=obj,
                    outcome=form.cleaned_data["outcome"],
                    refused=form.cleaned_data["refused"],
                    actor=actor,
                )
                done = _("The request is closed and the answer e-mailed.")
            else:
                raise SubjectRequestError(_("Unknown action."))
        except SubjectRequestError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, done)
        return self._back(obj)

    def erasure_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The erasure's preview per app and declaration (GET); approve and erase (POST)."""
        obj = self._acting_on(request, pk)
        if obj.kind != SubjectRequest.Kind.ERASURE or obj.status not in OPEN_STATUSES:
            messages.error(request, _("Only an open erasure request can erase data."))
            return self._back(obj)
        if request.method == "POST":
            try:
                record = erasure_run(request=obj, actor=request.user)
            except SubjectRequestError as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request,
                    _("The data is erased (erasure record %(id)s); the person is told.")
                    % {"id": record.pk},
                )
            return self._back(obj)
        preview = erasure_preview(email=obj.email, user=obj.user, now=timezone.now())
        return TemplateResponse(
            request,
            "admin/privacy/subjectrequest/erasure_preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "original": obj,
                "title": _("Erasure preview"),
                "by_app": preview.by_app(),
            },
        )


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Records the DPO reads but nobody edits in the admin: services write them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ProcessingRestriction)
class ProcessingRestrictionAdmin(_ReadOnlyAdmin):
    """Restrictions and marketing objections in force (and lifted ones, as proof)."""

    list_display = ["kind", "email", "created_at", "lifted_at"]
    list_filter = ["kind", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["email"]
    readonly_fields = ["kind", "email", "user", "request", "created_at", "lifted_at"]
    fields = readonly_fields  # type: ignore[assignment]
    actions = ["lift"]

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("privacy.change_processingrestriction")

    @admin.action(
        description=gettext_lazy("Lift the selected restrictions (the person is told)"),
        permissions=["lift"],
    )
    def lift(self, request: HttpRequest, queryset) -> None:
        lifted = sum(
            restriction_lift(restriction=restriction, actor=request.user)
            for restriction in queryset.filter(lifted_at__isnull=True).order_by("pk")
        )
        if lifted:
            messages.success(
                request,
                _("%(count)d restriction(s) lifted; each person has been told by e-mail.")
                % {"count": lifted},
            )
        else:
            messages.warning(request, _("The selected restrictions were already lifted."))


@admin.register(ErasureRecord)
class ErasureRecordAdmin(_ReadOnlyAdmin):
    """Erasures without personal data: when, which request, the keyed hash, the plan."""

    list_display = ["performed_at", "request_public_id", "subject_digest", "replayed_at"]
    search_fields = ["subject_digest", "request_public_id"]
    readonly_fields = ["performed_at", "request_public_id", "subject_digest", "plan", "replayed_at"]
    fields = readonly_fields  # type: ignore[assignment]
