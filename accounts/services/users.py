"""Writes on visitor accounts: profile, language, guest orders, closure requests, activity."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AccountClosureRequest, MuseumCard, User
from museum.audit import audit_record
from museum.emails import email_enqueue
from ticketing.models import Order

PROFILE_FIELDS = ("first_name", "last_name", "phone", "postal_address", "year_of_birth")


class AccountError(Exception):
    """A request on an account that cannot be carried out; ``message`` is translated."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def guest_orders_attach(*, user: User, email: str, now: dt.datetime | None = None) -> dict:
    """Give ``user`` the guest orders and museum cards bought with ``email``.

    Call it only once ``email`` is verified as the user's: whoever reads that mailbox
    already holds the links to these orders. Orders and cards that belong to an account
    are never moved. Returns ``{"orders": n, "cards": m}``.
    Side effects: Order.user and MuseumCard.holder set; an audit event when anything moved.
    """
    now = now or timezone.now()
    address = email.strip().lower()
    if not address:
        return {"orders": 0, "cards": 0}
    with transaction.atomic():
        order_ids = list(
            Order.objects.select_for_update(of=("self",))
            .filter(buyer__email__iexact=address, user__isnull=True)
            .values_list("pk", flat=True)
        )
        card_ids = list(
            MuseumCard.objects.select_for_update()
            .filter(holder_email__iexact=address, holder__isnull=True)
            .values_list("pk", flat=True)
        )
        Order.objects.filter(pk__in=order_ids).update(user=user, updated_at=now)
        MuseumCard.objects.filter(pk__in=card_ids).update(holder=user, updated_at=now)
        if order_ids or card_ids:
            audit_record(
                action="account.guest_orders_attached",
                subject=user,
                actor=user,
                data={"email": address, "orders": order_ids, "cards": card_ids},
                now=now,
            )
    return {"orders": len(order_ids), "cards": len(card_ids)}


def account_activity_record(
    *, user_id: int | None = None, email: str = "", now: dt.datetime | None = None
) -> int:
    """Note that the person was active at ``now``: a sign-in, a paid order, a mail opened.

    Seed 003 anonymises an account after seven years without a purchase, a sign-in or a
    newsletter opened; ``User.last_activity_at`` is the moment the retention rule counts
    from. The account is the one with ``user_id`` and the one whose address is ``email`` in
    any case (the same person, as the purge sees it). The moment only moves forward: an
    older event (a late webhook) never moves it back. Returns how many accounts changed.
    Side effects: one UPDATE of User.last_activity_at; no audit event (not a privacy act).
    """
    now = now or timezone.now()
    who = Q()
    if user_id is not None:
        who |= Q(pk=user_id)
    address = (email or "").strip()
    if address:
        who |= Q(email__iexact=address)
    if not who:
        return 0
    return (
        User.objects.filter(who)
        .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=now))
        .update(last_activity_at=now)
    )


def profile_update(
    *,
    user: User,
    first_name: str,
    last_name: str,
    phone: str,
    postal_address: str,
    year_of_birth: int | None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Store the holder's optional personal data (already validated by the form).

    Returns the names of the fields that changed. Side effects: the User row; an audit
    event naming the changed fields (not their values) when anything changed.
    Raises: ValidationError when a value breaks the model's rules (the form checks first).
    """
    values = {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "phone": phone.strip(),
        "postal_address": postal_address.strip(),
        "year_of_birth": year_of_birth,
    }
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        changed = [name for name, value in values.items() if getattr(locked, name) != value]
        if not changed:
            return []
        for name in changed:
            setattr(locked, name, values[name])
            setattr(user, name, values[name])
        locked.full_clean(exclude=[f.name for f in User._meta.fields if f.name not in changed])
        locked.save(update_fields=changed)
        audit_record(
            action="account.profile_updated",
            subject=locked,
            actor=user,
            data={"fields": changed},
            now=now,
        )
    return changed


def preferred_language_set(*, user: User, language: str) -> None:
    """Remember the language the site and its e-mails use for this account.

    Side effects: User.preferred_language. Raises: AccountError for a language the site
    does not speak.
    """
    if language not in dict(settings.LANGUAGES):
        raise AccountError(_("Choose one of the languages offered."), field="language")
    User.objects.filter(pk=user.pk).update(preferred_language=language)
    user.preferred_language = language


def closure_request_open(
    *, user: User, reason: str = "", now: dt.datetime | None = None
) -> tuple[AccountClosureRequest, bool]:
    """Record the holder's request to delete their account, once while it is open.

    The erasure itself is the privacy app's; this only records the request and confirms it
    by e-mail. A second request while one is open returns the open one (``created`` False)
    and sends nothing. Side effects: an AccountClosureRequest row, an audit event, an
    outbox e-mail in the holder's language.
    """
    now = now or timezone.now()
    with transaction.atomic():
        # The user's row is the lock that keeps two simultaneous requests from both opening.
        locked = User.objects.select_for_update().get(pk=user.pk)
        existing = (
            AccountClosureRequest.objects.filter(
                user=locked, status=AccountClosureRequest.Status.OPEN
            )
            .order_by("created_at")
            .first()
        )
        if existing is not None:
            return existing, False
        request = AccountClosureRequest.objects.create(
            user=locked, email=locked.email, reason=reason.strip()[:2000]
        )
        audit_record(action="account.closure_requested", subject=request, actor=locked, now=now)
        email_enqueue(
            dedupe_key=f"accounts.closure_requested:{request.pk}",
            to=locked.email,
            template="accounts/closure_requested",
            context={
                "name": locked.get_full_name(),
                "requested_at": now,
                "account_url": settings.SITE_URL + reverse("my_account:close"),
            },
            language=locked.preferred_language,
        )
    return request, True
