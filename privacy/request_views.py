"""Public pages of subject requests: the form, the confirmation link, the download link.

Thin: parse, call one service of ``privacy.requests``, render. No answer says whether an
address is known to the museum.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from museum.ratelimit import is_limited
from privacy.erasure import subject_person
from privacy.request_forms import SubjectRequestForm
from privacy.requests import (
    SubjectRequestError,
    access_bundle_pdf,
    download_request,
    request_submit,
    request_verify,
)
from privacy.services import access_bundle

RATE_SCOPE = "privacy_request"


def _limited(request: HttpRequest) -> bool:
    return is_limited(request, scope=RATE_SCOPE)  # RATE_LIMIT_PRIVACY_REQUEST


@never_cache
@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    """Ask for a copy, a correction, an erasure, a restriction, or object to marketing."""
    initial = {}
    if request.user.is_authenticated:
        initial["email"] = request.user.email
    form = SubjectRequestForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if _limited(request):
            form.add_error(None, _("Too many requests from your connection. Please wait a while."))
            return render(request, "privacy/request.html", {"form": form}, status=429)
        if form.is_valid():
            subject_request = request_submit(
                kind=form.cleaned_data["kind"],
                email=form.cleaned_data["email"],
                message=form.cleaned_data["message"],
                language=translation.get_language() or settings.LANGUAGE_CODE,
                user=request.user,
            )
            verified = subject_request.verified_at is not None
            return redirect("privacy:request_sent" + ("_verified" if verified else ""))
    return render(request, "privacy/request.html", {"form": form})


@require_GET
def request_sent(request: HttpRequest, *, verified: bool = False) -> HttpResponse:
    """The same answer for every address: a link is on its way if the address is known."""
    return render(request, "privacy/request_sent.html", {"verified": verified})


@never_cache
@require_GET
def request_verify_view(request: HttpRequest, token: str) -> HttpResponse:
    """Follow the e-mailed link: the request is confirmed and its deadline starts."""
    try:
        subject_request = request_verify(token=token)
    except SubjectRequestError as error:
        return render(request, "privacy/request_link_error.html", {"error": str(error)}, status=400)
    return render(request, "privacy/request_verified.html", {"subject_request": subject_request})


@never_cache
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse:
    """The copy of a person's data behind the signed link: JSON (?format=json) or PDF."""
    try:
        subject_request = download_request(token=token)
    except SubjectRequestError as error:
        return render(request, "privacy/request_link_error.html", {"error": str(error)}, status=400)
    wanted = request.GET.get("format", "")
    if wanted not in ("json", "pdf"):
        return render(request, "privacy/request_download.html", {"token": token})
    person = subject_person(subject_request.email, subject_request.user)
    user = None
    if person.user_id is not None:
        user = get_user_model().objects.filter(pk=person.user_id).first()
    with translation.override(subject_request.language):
        bundle = access_bundle(email=subject_request.email, user=user)
        if wanted == "pdf":
            content = access_bundle_pdf(bundle=bundle, language=subject_request.language)
            response = HttpResponse(content, content_type="application/pdf")
        else:
            content = json.dumps(bundle, ensure_ascii=False, indent=2).encode()
            response = HttpResponse(content, content_type="application/json; charset=utf-8")
    day = timezone.localdate()
    response["Content-Disposition"] = f'attachment; filename="my-data-{day:%Y-%m-%d}.{wanted}"'
    response["Cache-Control"] = "no-store"
    return response
