"""allauth, adapted to the project: its e-mails go through the outbox, in the holder's language.

allauth renders its own e-mail templates (``account/email/<name>_subject.txt`` and
``_message.txt``, the project may override them under templates/account/email/); this
adapter renders them in the recipient's language and stores them in the outbox instead of
sending them from the request. Its signal receivers turn "this address is verified" into
the one service call that attaches the guest orders of that address, and "signed in" into
the one that records the account's activity (seed 003's inactivity rule).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from accounts.models import User
from museum.emails import email_enqueue_rendered


def supported_language(code: str | None) -> str:
    """``code`` if the site speaks it (or its base language), else the default language."""
    if code:
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            pass
    return settings.LANGUAGE_CODE


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        """A new account speaks the language the visitor signed up in."""
        user = super().save_user(request, user, form, commit=False)
        user.preferred_language = supported_language(translation.get_language())
        if commit:
            user.save()
        return user

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse:
        """After signing in, the site switches to the account's preferred language."""
        response = super().post_login(request, user, **kwargs)
        language = getattr(user, "preferred_language", "")
        if language in dict(settings.LANGUAGES) and hasattr(response, "set_cookie"):
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response

    def format_email_subject(self, subject: str) -> str:
        return f"{settings.MUSEUM_NAME}: {subject}"

    def recipient_language(self, email: str, context: dict[str, Any]) -> str:
        """The account's preferred language if the address has an account, else the page's."""
        user = context.get("user")
        if not isinstance(user, User) or not user.pk:
            user = User.objects.filter(email__iexact=email).only("preferred_language").first()
        if user is not None and user.preferred_language in dict(settings.LANGUAGES):
            return user.preferred_language
        return supported_language(translation.get_language())

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        """Render allauth's e-mail in the recipient's language and store it in the outbox.

        Side effects: one OutboxEmail row, sent by a task after commit.
        """
        request = getattr(allauth_context, "request", None)
        language = self.recipient_language(email, context)
        ctx = {
            "request": request,
            "email": email,
            # allauth's templates greet with the site's name and domain: the museum's.
            "current_site": SimpleNamespace(
                name=settings.MUSEUM_NAME, domain=urlparse(settings.SITE_URL).netloc
            ),
            "museum_name": settings.MUSEUM_NAME,
            "site_url": settings.SITE_URL,
            **context,
        }
        with translation.override(language):
            subject_line = render_to_string(f"{template_prefix}_subject.txt", ctx)
            subject = self.format_email_subject(" ".join(subject_line.split()))
            body_text = render_to_string(f"{template_prefix}_message.txt", ctx, request).strip()
            try:
                body_html = render_to_string(f"{template_prefix}_message.html", ctx, request)
            except TemplateDoesNotExist:
                body_html = render_to_string(
                    "emails/accounts/allauth_message.html",
                    {"subject": subject, "body_text": body_text, **ctx},
                )
        email_enqueue_rendered(
            dedupe_key=f"allauth:{template_prefix}:{uuid.uuid4().hex}",
            to=email,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            language=language,
        )


def email_confirmed_receiver(sender: Any, request: HttpRequest | None, email_address, **kwargs):
    """allauth's ``email_confirmed`` signal: attach the guest orders of the verified address."""
    from accounts.services.users import guest_orders_attach

    guest_orders_attach(user=email_address.user, email=email_address.email)


def user_logged_in_receiver(sender: Any, request: HttpRequest | None, user: Any, **kwargs):
    """Django's ``user_logged_in`` (sent by allauth's sign-in, the admin's and
    ``Client.login``): a sign-in is activity that keeps the account (seed 003)."""
    from accounts.services.users import account_activity_record

    if isinstance(user, User) and user.pk:
        account_activity_record(user_id=user.pk)
