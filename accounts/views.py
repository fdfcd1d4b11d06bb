"""My account: personal data, language, orders, communication preferences, card, own data.

Every page needs a signed-in holder with a verified e-mail address, and every lookup is
scoped to that holder.
"""

from __future__ import annotations

import json
import re
from typing import cast

from allauth.account.decorators import verified_email_required
from django.conf import settings
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import ClosureForm, LanguageForm, NewsletterForm, ProfileForm
from accounts.models import AccountClosureRequest, MuseumCard, User
from accounts.privacy import account_data_export
from accounts.services.users import (
    AccountError,
    closure_request_open,
    preferred_language_set,
    profile_update,
)
from newsletter.models import NewsletterConsent
from newsletter.selectors import consent_is_given, consents_for_email
from newsletter.services import consent_record
from privacy import consent as privacy_consent
from ticketing import selectors as ticketing_selectors

CARD_PAGE_PATH = "/account/card/"
MARKETING = privacy_consent.Purpose.MARKETING
ORDER_CODE = re.compile(r"[A-Z0-9]{1,12}")


def _card_page_url() -> str | None:
    """The museum card pages, once they are installed."""
    try:
        resolve(CARD_PAGE_PATH)
    except Resolver404:
        return None
    return CARD_PAGE_PATH


def _holder(request: HttpRequest) -> User:
    """The signed-in holder (the decorators let nobody else through)."""
    return cast(User, request.user)


def _open_closure_request(user: User) -> AccountClosureRequest | None:
    return (
        AccountClosureRequest.objects.filter(user=user, status=AccountClosureRequest.Status.OPEN)
        .order_by("created_at")
        .first()
    )


@verified_email_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The overview: each part of the account with a link to look at or change it."""
    user = _holder(request)
    return render(
        request,
        "accounts/home.html",
        {
            "language_form": LanguageForm(initial={"language": user.preferred_language}),
            "orders": list(ticketing_selectors.orders_for_user(user)[:3]),
            "newsletter": consent_is_given(user.email),
            "cards": MuseumCard.objects.filter(holder=user).select_related("product"),
            "card_url": _card_page_url(),
            "closure_request": _open_closure_request(user),
        },
    )


@verified_email_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """The optional personal data, each with its reason; the e-mail is changed by allauth."""
    user = _holder(request)
    form = ProfileForm(
        request.POST if request.method == "POST" else None,
        instance=User.objects.get(pk=user.pk),
    )
    if request.method == "POST" and form.is_valid():
        profile_update(user=user, **{name: form.cleaned_data[name] for name in form.fields})
        messages.success(request, _("Your personal data is saved."))
        return redirect("my_account:home")
    return render(
        request,
        "accounts/profile.html",
        {"form": form},
        status=400 if form.is_bound else 200,
    )


@verified_email_required
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """Store the preferred language and switch the site to it."""
    form = LanguageForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose one of the languages offered."))
        return redirect("my_account:home")
    code = form.cleaned_data["language"]
    try:
        preferred_language_set(user=_holder(request), language=code)
    except AccountError as exc:
        messages.error(request, exc.message)
        return redirect("my_account:home")
    translation.activate(code)
    messages.success(request, _("The site and your e-mails now use this language."))
    response = redirect("my_account:home")
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@verified_email_required
@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    """The holder's own orders with their tickets."""
    own = ticketing_selectors.orders_for_user(_holder(request)).prefetch_related(
        "tickets__ticket_type", "tickets__time_slot__exhibition"
    )
    return render(request, "accounts/orders.html", {"orders": own})


@verified_email_required
@require_GET
def order_open(request: HttpRequest, code: str) -> HttpResponse:
    """One of the holder's orders: its order page. Anyone else's order is a 404."""
    code = code.upper()
    if not ORDER_CODE.fullmatch(code):
        raise Http404("Not an order code")
    order = ticketing_selectors.orders_for_user(_holder(request)).filter(code=code).first()
    if order is None:
        raise Http404("No such order in this account")
    return redirect("ticketing:order_detail", token=order.access_token)


@verified_email_required
@require_http_methods(["GET", "POST"])
def communication(request: HttpRequest) -> HttpResponse:
    """Newsletter consent: give or withdraw it, and see every past change."""
    user = _holder(request)
    subscribed = consent_is_given(user.email)
    form = NewsletterForm(
        request.POST if request.method == "POST" else None, initial={"subscribe": subscribed}
    )
    if request.method == "POST" and form.is_valid():
        wanted = form.cleaned_data["subscribe"]
        if wanted != subscribed:
            consent_record(
                email=user.email,
                name=user.get_full_name(),
                language=translation.get_language() or settings.LANGUAGE_CODE,
                given=wanted,
                source=NewsletterConsent.Source.ACCOUNT,
                user=user,
            )
            messages.success(
                request,
                _("You will receive the newsletter.")
                if wanted
                else _("You will no longer receive the newsletter."),
            )
        else:
            messages.info(request, _("Nothing changed."))
        return redirect("my_account:communication")
    return render(
        request,
        "accounts/communication.html",
        {
            "form": form,
            "subscribed": subscribed,
            "history": consents_for_email(user.email),
            # Marketing consent lives in the privacy ledger; its form posts there.
            "marketing_given": (
                given := privacy_consent.consent_is_given(purpose=MARKETING, user=user)
            ),
            "marketing_wording": privacy_consent.consent_wording(
                purpose=MARKETING, given=not given
            )[0],
            "marketing_history": privacy_consent.consent_history(user=user, purpose=MARKETING),
        },
    )


@verified_email_required
@require_GET
def data_download(request: HttpRequest) -> HttpResponse:
    """The account's own data as a JSON file."""
    now = timezone.now()
    data = account_data_export(user=_holder(request), now=now)
    response = HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    filename = f"my-museum-account-{timezone.localdate(now):%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@verified_email_required
@require_http_methods(["GET", "POST"])
def close(request: HttpRequest) -> HttpResponse:
    """Ask for the account to be deleted; says what happens next."""
    user = _holder(request)
    existing = _open_closure_request(user)
    form = ClosureForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and existing is None and form.is_valid():
        closure_request_open(user=user, reason=form.cleaned_data["reason"])
        messages.success(request, _("Your request is recorded. We have sent you a confirmation."))
        return redirect("my_account:close")
    return render(
        request,
        "accounts/close.html",
        {"form": form, "closure_request": existing},
        status=400 if form.is_bound and existing is None else 200,
    )
