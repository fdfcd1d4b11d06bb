"""The cookie banner's answer, the cookie settings page and the account's marketing consent.

Accepting and refusing are one click each, on the same form; both are recorded.
"""

from __future__ import annotations

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from privacy.consent import (
    COOKIE_MAX_AGE,
    COOKIE_NAME,
    Channel,
    Purpose,
    consent_give,
    consent_id_from,
    consent_is_given,
    consent_withdraw,
    cookie_state,
    new_consent_id,
)


def _language() -> str:
    return translation.get_language() or settings.LANGUAGE_CODE


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "privacy:cookies"


@require_http_methods(["GET", "POST"])
def cookie_settings(request: HttpRequest) -> HttpResponse:
    """The essential cookies we set, and accept/refuse for each configured tracker."""
    state = cookie_state(request)
    if request.method == "GET":
        return render(request, "privacy/cookies.html", {"state": state})
    choice = request.POST.get("choice")
    if choice not in ("accept", "refuse") or not state.trackers:
        messages.error(request, _("Please choose Accept or Refuse."))
        return redirect("privacy:cookies")
    consent_id = consent_id_from(request) or new_consent_id()
    record = consent_give if choice == "accept" else consent_withdraw
    for purpose in state.purposes:
        record(
            purpose=purpose,
            channel=Channel.COOKIE_BANNER,
            language=_language(),
            consent_id=consent_id,
            trackers=state.names(purpose),
        )
    messages.success(
        request,
        _("Thank you: optional cookies are allowed.")
        if choice == "accept"
        else _("Thank you: only essential cookies are used."),
    )
    response = redirect(_next(request))
    # Essential: it only remembers this answer, so that we do not ask on every page.
    response.set_cookie(
        COOKIE_NAME,
        consent_id,
        max_age=COOKIE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


@verified_email_required
@require_POST
def marketing_consent(request: HttpRequest) -> HttpResponse:
    """The account holder gives or withdraws marketing consent with one click."""
    user = request.user
    wanted = request.POST.get("marketing") == "give"
    if wanted == consent_is_given(purpose=Purpose.MARKETING, user=user):
        messages.info(request, _("Nothing changed."))
        return redirect("my_account:communication")
    record = consent_give if wanted else consent_withdraw
    record(purpose=Purpose.MARKETING, channel=Channel.ACCOUNT, language=_language(), user=user)
    messages.success(
        request,
        _("You will receive offers and invitations by e-mail.")
        if wanted
        else _("You will no longer receive offers and invitations by e-mail."),
    )
    return redirect("my_account:communication")
