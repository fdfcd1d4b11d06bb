"""Staff sign-in: through allauth, with a second factor, and written to the audit log.

- ``admin_login`` replaces the admin's own login page (museum/urls.py routes /admin/login/
  here): staff sign in on allauth's page, so allauth's rate limits and its second-factor
  step apply to them like to everyone.
- ``StaffTwoFactorMiddleware`` sends a staff user who has no authenticator app (TOTP)
  yet to set one up before any admin page or the entrance check-in page.
- ``connect_signal_receivers`` (called by museum.apps) adapts Django's and allauth's
  sign-in signals into one service call, ``staff_sign_in_record``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.services.staff import (
    SECOND_FACTOR_ADDED,
    SECOND_FACTOR_FAILED,
    SECOND_FACTOR_REMOVED,
    SIGN_IN,
    SIGN_IN_FAILED,
    staff_sign_in_record,
    user_is_staff,
)
from museum.ratelimit import client_key


def _has_totp(user: Any) -> bool:
    """Whether ``user`` has a TOTP authenticator; also loads their permissions, same query.

    A guarded page (the admin, the check-in page) checks the user's permissions right
    after this middleware: ``ModelBackend`` would read them with two more queries (the
    user's own, then their groups'). They are read here with the second factor, fresh
    for this request, and kept where ``ModelBackend`` keeps them for the rest of the
    request (``_perm_cache``). Nothing is kept between requests: a permission or an
    authenticator removed counts from the next request on.
    """
    from allauth.mfa.models import Authenticator

    if connection.vendor != "postgresql":
        # SQLite (the demo) has no ARRAY(): ModelBackend reads the permissions itself.
        return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    with connection.cursor() as cursor:
        cursor.execute(_staff_state_sql(), [user.pk, Authenticator.Type.TOTP, user.pk, user.pk])
        has_totp, names = cursor.fetchone()
    # What ModelBackend.get_all_permissions would compute: "app_label.codename" of the
    # user's own permissions and of their groups'.
    user._perm_cache = set(names)
    return has_totp


@lru_cache(maxsize=1)
def _staff_state_sql() -> str:
    """The statement of ``_has_totp``, written once from the models' tables and columns."""
    from allauth.mfa.models import Authenticator
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def column(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    user_model = get_user_model()
    own = user_model.user_permissions.field.remote_field.through
    own_field = user_model.user_permissions.field
    member = user_model.groups.field.remote_field.through
    member_field = user_model.groups.field
    granted = Group.permissions.field.remote_field.through
    granted_field = Group.permissions.field
    return f"""
        SELECT
            EXISTS (
                SELECT 1 FROM {table(Authenticator)}
                WHERE {column(Authenticator, "user")} = %s AND {column(Authenticator, "type")} = %s
            ),
            ARRAY (
                SELECT ct.app_label || '.' || p.codename
                FROM {table(Permission)} p
                JOIN {table(ContentType)} ct ON ct.id = p.content_type_id
                WHERE p.id IN (
                    SELECT {own_field.m2m_reverse_name()} FROM {table(own)}
                    WHERE {own_field.m2m_column_name()} = %s
                    UNION
                    SELECT g.{granted_field.m2m_reverse_name()}
                    FROM {table(granted)} g
                    JOIN {table(member)} m
                        ON m.{member_field.m2m_reverse_name()} = g.{granted_field.m2m_column_name()}
                    WHERE m.{member_field.m2m_column_name()} = %s
                )
            )
    """  # noqa: S608 (identifiers from the models' metadata; the values are parameters)


class StaffTwoFactorMiddleware:
    """No admin page and no check-in page for staff without an authenticator app.

    A signed-in staff user (see ``user_is_staff``) without a TOTP authenticator who asks
    for anything under /admin/ or for /check-in/ is redirected to allauth's "activate
    TOTP" page with a message. Signing out and allauth's own pages (the second factor's
    set-up among them) are outside those paths and stay reachable; so does the admin's
    logout. Place it after the authentication and message middlewares.

    For a staff user on those paths, the second factor and the user's permissions are
    read in one query (``_has_totp``), so the page's permission check needs none.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._is_guarded(request.path_info) and self._lacks_second_factor(request):
            messages.warning(
                request,
                _(
                    "Staff sign in with a second factor. Set up an authenticator app "
                    "to continue to the staff pages."
                ),
            )
            return HttpResponseRedirect(reverse("mfa_activate_totp"))
        return self.get_response(request)

    @staticmethod
    def _is_guarded(path: str) -> bool:
        if path == reverse("admin:logout"):
            return False
        return path.startswith(reverse("admin:index")) or path == reverse("ticketing:check_in")

    @staticmethod
    def _lacks_second_factor(request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        return user_is_staff(user) and not _has_totp(user)


@never_cache
@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page: sends staff to allauth's sign-in, coming back to ``next``.

    A signed-in staff member goes straight to ``next``; a signed-in visitor who is not
    staff is refused (403) rather than sent round in circles between the two login pages.
    """
    next_url = request.GET.get("next", "")
    if not next_url or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    user = request.user
    if user.is_authenticated:
        if user.is_active and user.is_staff:
            return HttpResponseRedirect(next_url)
        raise PermissionDenied
    return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")


# --- Signals from Django and allauth, adapted into one service call ---------------------


def _client(request: HttpRequest | None) -> str:
    return client_key(request) if request is not None else ""


def _on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if not user_is_staff(user):
        return
    methods = []
    if request is not None and hasattr(request, "session"):
        # allauth notes each step of the sign-in ("password", "mfa") in the session.
        records = request.session.get("account_authentication_methods") or []
        methods = [r.get("method") for r in records if isinstance(r, dict)]
    staff_sign_in_record(
        action=SIGN_IN, user=user, client=_client(request), details={"steps": methods}
    )


def _on_login_failed(
    sender: Any, credentials: dict, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Only the e-mail typed is kept; the password (already masked by Django) never is.
    email = str(credentials.get("email") or credentials.get("username") or "")
    staff_sign_in_record(action=SIGN_IN_FAILED, email=email, client=_client(request))


def _on_second_factor_failed(
    sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kwargs: Any
) -> None:
    staff_sign_in_record(
        action=SECOND_FACTOR_FAILED,
        user=user,
        client=_client(request),
        details={
            "authenticator": authenticator.type,
            "reauthentication": bool(kwargs.get("reauthentication")),
        },
    )


def _on_authenticator_added(
    sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kwargs: Any
) -> None:
    staff_sign_in_record(
        action=SECOND_FACTOR_ADDED,
        user=user,
        client=_client(request),
        details={"authenticator": authenticator.type},
    )


def _on_authenticator_removed(
    sender: Any, request: HttpRequest | None, user: Any, authenticator: Any, **kwargs: Any
) -> None:
    staff_sign_in_record(
        action=SECOND_FACTOR_REMOVED,
        user=user,
        client=_client(request),
        details={"authenticator": authenticator.type},
    )


def connect_signal_receivers() -> None:
    """Connect the sign-in receivers above (once; called from MuseumConfig.ready)."""
    from allauth.mfa import signals as mfa_signals

    user_logged_in.connect(_on_logged_in, dispatch_uid="museum.staff.logged_in")
    user_login_failed.connect(_on_login_failed, dispatch_uid="museum.staff.login_failed")
    mfa_signals.authentication_failed.connect(
        _on_second_factor_failed, dispatch_uid="museum.staff.second_factor_failed"
    )
    mfa_signals.authenticator_added.connect(
        _on_authenticator_added, dispatch_uid="museum.staff.authenticator_added"
    )
    mfa_signals.authenticator_removed.connect(
        _on_authenticator_removed, dispatch_uid="museum.staff.authenticator_removed"
    )
