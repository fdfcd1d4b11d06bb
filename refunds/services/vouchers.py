"""Spending vouchers: on a held web order or in a desk sale, given back when the order is
never paid or its tickets are refunded.

A voucher's value only moves under its row lock, taken after the order's lock (the order
of locks of ticketing: order, then site and slots; then vouchers by ascending id), and
every move is written twice, on the voucher (``balance_cents``) and on the redemption
(``amount_cents`` spent, ``returned_cents`` given back), so that value is never lost nor
spent twice: ``balance + sum(spent - returned) == value`` for every voucher.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from museum.audit import audit_record
from refunds.errors import VoucherError
from refunds.models import Refund, Voucher, VoucherRedemption
from ticketing import locking as ticket_locking
from ticketing.models import Order

_NOT_CODE = re.compile(r"[\s\-_.]+")
CODE_LENGTH = 12


def voucher_code_normalise(code: str) -> str:
    """The stored form of a typed code: upper case, in groups of four, whatever the spaces
    or dashes typed; "" when it cannot be a voucher code. No side effects."""
    raw = _NOT_CODE.sub("", (code or "").upper())
    if len(raw) != CODE_LENGTH or not raw.isalnum() or not raw.isascii():
        return ""
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _lock_vouchers(voucher_ids) -> dict[int, Voucher]:
    vouchers = Voucher.objects.select_for_update().filter(pk__in=sorted(set(voucher_ids)))
    return {voucher.pk: voucher for voucher in vouchers.order_by("pk")}


def voucher_apply(
    *, order: Order, code: str, now: dt.datetime | None = None, desk_sale: bool = False
) -> VoucherRedemption:
    """Spend a voucher on an order: as much of its balance as the order still has to pay.

    Allowed on a web order awaiting payment whose hold still runs, and on a desk order in
    the transaction of its sale (``desk_sale_place`` passes ``desk_sale=True``: once the
    clerk has collected the money, a voucher can no longer change it). A web order the voucher pays in full
    is issued at once (payment method "voucher"); a card payment started before for the
    old amount is then never reused, and if paid anyway it is refunded (amount mismatch).
    Side effects: voucher balance, ``Order.voucher_cents`` (and status when fully paid), a
    VoucherRedemption row, an audit event; when issued, the tickets' e-mail.
    Raises: VoucherError (no code, unknown code, expired, used up, other currency, already
    used on this order, nothing left to pay, order not payable); nothing is changed.
    """
    now = now or timezone.now()
    normalised = voucher_code_normalise(code)
    if not (code or "").strip():
        raise VoucherError(_("Enter the code of your voucher."), field="voucher_code")
    with transaction.atomic():
        locked = ticket_locking.lock_order(order.pk)
        _check_order_takes_voucher(locked, now=now, desk_sale=desk_sale)
        voucher = (
            Voucher.objects.select_for_update().filter(code=normalised).first()
            if normalised
            else None
        )
        # An unknown code says nothing else: codes are not to be guessed.
        if voucher is None:
            raise VoucherError(
                _("This voucher code is not known. Check it and try again."), field="voucher_code"
            )
        if voucher.valid_until < timezone.localdate(now):
            raise VoucherError(
                _("This voucher expired on %(date)s.")
                % {"date": voucher.valid_until.strftime("%Y-%m-%d")},
                field="voucher_code",
            )
        if voucher.currency.upper() != locked.currency.upper():
            raise VoucherError(
                _("This voucher is in %(currency)s and cannot pay this order.")
                % {"currency": voucher.currency},
                field="voucher_code",
            )
        if VoucherRedemption.objects.filter(voucher=voucher, order=locked).exists():
            raise VoucherError(
                _("This voucher is already used on this order."), field="voucher_code"
            )
        if voucher.balance_cents <= 0:
            raise VoucherError(_("Nothing is left on this voucher."), field="voucher_code")
        if locked.due_cents <= 0:
            raise VoucherError(_("Nothing is left to pay on this order."), field="voucher_code")
        applied = min(voucher.balance_cents, locked.due_cents)
        voucher.balance_cents -= applied
        voucher.save(update_fields=["balance_cents", "updated_at"])
        locked.voucher_cents += applied
        fields = ["voucher_cents", "updated_at"]
        if locked.channel == Order.Channel.DESK and locked.due_cents == 0:
            locked.payment_method = Order.PaymentMethod.VOUCHER
            fields.append("payment_method")
        locked.save(update_fields=fields)
        redemption = VoucherRedemption.objects.create(
            voucher=voucher, order=locked, amount_cents=applied
        )
        audit_record(
            action="voucher.applied",
            subject=locked,
            actor_label="desk" if locked.channel == Order.Channel.DESK else "buyer",
            data={
                "voucher": voucher.pk,
                "amount_cents": applied,
                "voucher_balance_cents": voucher.balance_cents,
                "due_cents": locked.due_cents,
            },
            now=now,
        )
        if locked.channel == Order.Channel.WEB and locked.due_cents == 0:
            from ticketing.services.orders import _issue

            _issue(locked, payment_method=Order.PaymentMethod.VOUCHER, now=now)
    order.voucher_cents = locked.voucher_cents
    order.status = locked.status
    order.payment_method = locked.payment_method
    order.paid_at = locked.paid_at
    order.hold_expires_at = locked.hold_expires_at
    return redemption


def _check_order_takes_voucher(order: Order, *, now: dt.datetime, desk_sale: bool) -> None:
    if order.channel == Order.Channel.WEB:
        if order.status != Order.Status.PENDING or (
            order.hold_expires_at is not None and order.hold_expires_at <= now
        ):
            raise VoucherError(
                _("This order is no longer waiting for payment; a voucher cannot be used.")
            )
        return
    if order.channel == Order.Channel.DESK:
        # Only while the sale is being made: the desk's money is collected after this.
        if not desk_sale or order.status != Order.Status.PAID:
            raise VoucherError(_("A voucher is taken at the desk during the sale only."))
        return
    raise VoucherError(_("A voucher cannot pay this order."))


def desk_sale_place(*, voucher_code: str = "", now: dt.datetime | None = None, **sale) -> Order:
    """A desk sale (``order_place`` with channel DESK) paid partly or fully by a voucher.

    The sale and the voucher are one transaction: a voucher refused means nothing sold.
    The payment method is the clerk's, or "voucher" when the voucher pays everything.
    Side effects: as ``order_place`` and ``voucher_apply``.
    Raises: TicketingError from the sale, VoucherError from the voucher.
    """
    from ticketing.services.orders import order_place

    now = now or timezone.now()
    with transaction.atomic():
        order = order_place(channel=Order.Channel.DESK, now=now, **sale)
        if (voucher_code or "").strip():
            voucher_apply(order=order, code=voucher_code, now=now, desk_sale=True)
    return order


def vouchers_release_for_orders(*, order_ids, now: dt.datetime | None = None) -> int:
    """Give back to their vouchers what was spent on orders that were never paid.

    An order qualifies when it has no ``paid_at`` and no longer waits for payment
    (expired, or its late payment refunded); others are left alone. Each order is handled
    once: what was given back is recorded on its redemptions, and ``Order.voucher_cents``
    becomes 0, so a late payment of the old amount no longer matches and is refunded.
    Side effects: voucher balances, redemptions' ``returned_cents``, ``voucher_cents``,
    an audit event per order. Returns the number of orders released.
    """
    now = now or timezone.now()
    released = 0
    for order_id in sorted(set(order_ids)):
        with transaction.atomic():
            order = ticket_locking.lock_order(order_id)
            if _release_order(order, now=now):
                released += 1
    return released


def _release_order(order: Order, *, now: dt.datetime) -> bool:
    """``vouchers_release_for_orders`` for one order already locked by the caller."""
    if order.paid_at is not None or order.status == Order.Status.PENDING:
        return False
    redemptions = list(order.voucher_redemptions.order_by("pk"))
    open_ones = [r for r in redemptions if r.returned_cents < r.amount_cents]
    if not open_ones and order.voucher_cents == 0:
        return False
    vouchers = _lock_vouchers(r.voucher_id for r in open_ones)
    given_back = {}
    for redemption in open_ones:
        back = redemption.amount_cents - redemption.returned_cents
        voucher = vouchers[redemption.voucher_id]
        voucher.balance_cents += back
        voucher.save(update_fields=["balance_cents", "updated_at"])
        redemption.returned_cents = redemption.amount_cents
        redemption.save(update_fields=["returned_cents"])
        given_back[str(voucher.pk)] = back
    order.voucher_cents = 0
    order.save(update_fields=["voucher_cents", "updated_at"])
    audit_record(
        action="voucher.released",
        subject=order,
        data={"vouchers": given_back, "status": order.status},
        now=now,
    )
    return True


def vouchers_release_unpaid(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Release the vouchers of every order that holds voucher value but will not be paid.

    Catches orders closed by any path (the hold sweep, a campaign expiring holds, a late
    payment refunded). Side effects: as ``vouchers_release_for_orders``. Returns how many.
    """
    now = now or timezone.now()
    done = 0
    while True:
        order_ids = list(
            VoucherRedemption.objects.filter(
                order__paid_at__isnull=True, returned_cents__lt=F("amount_cents")
            )
            .exclude(order__status=Order.Status.PENDING)
            .order_by("order_id")
            .values_list("order_id", flat=True)
            .distinct()[:batch]
        )
        if not order_ids:
            return done
        released = vouchers_release_for_orders(order_ids=order_ids, now=now)
        if not released:
            return done  # rows that changed under us: the next sweep sees them again
        done += released


def vouchers_returnable_cents(order: Order) -> int:
    """What vouchers paid of ``order`` and has not been given back yet. No side effects."""
    return sum(
        r.amount_cents - r.returned_cents for r in order.voucher_redemptions.all().order_by("pk")
    )


def vouchers_credit_refund(refund: Refund, *, now: dt.datetime) -> int:
    """Put the voucher part of a refund being approved back on the order's vouchers.

    The part is what vouchers paid of the order and is not yet given back, up to the
    refund's amount; the last voucher spent is credited first. Call with the order and
    the refund locked, once per refund (approval). Sets ``refund.voucher_cents`` (the
    caller saves the refund). Side effects: voucher balances (and validity, extended to
    at least that of a new voucher), redemptions'
    ``returned_cents``, an audit event when anything is credited. Returns the part.
    """
    if refund.voucher_cents or refund.amount_cents <= 0:
        return refund.voucher_cents
    redemptions = [
        r
        for r in VoucherRedemption.objects.filter(order_id=refund.order_id).order_by("-pk")
        if r.returned_cents < r.amount_cents
    ]
    if not redemptions:
        return 0
    vouchers = _lock_vouchers(r.voucher_id for r in redemptions)
    left = refund.amount_cents
    credited = {}
    # Value given back is spendable at least as long as a new voucher would be, even on a
    # voucher that ran out meanwhile.
    months = settings.REFUNDS["VOUCHER_MONTHS"]
    usable_until = timezone.localdate(now) + dt.timedelta(days=round(months * 365.25 / 12))
    for redemption in redemptions:
        if left <= 0:
            break
        back = min(left, redemption.amount_cents - redemption.returned_cents)
        voucher = vouchers[redemption.voucher_id]
        voucher.balance_cents += back
        voucher.valid_until = max(voucher.valid_until, usable_until)
        voucher.save(update_fields=["balance_cents", "valid_until", "updated_at"])
        redemption.returned_cents += back
        redemption.save(update_fields=["returned_cents"])
        credited[str(voucher.pk)] = back
        left -= back
    refund.voucher_cents = refund.amount_cents - left
    audit_record(
        action="voucher.credited",
        subject=refund,
        data={"order": refund.order.code, "vouchers": credited, "cents": refund.voucher_cents},
        now=now,
    )
    return refund.voucher_cents


def voucher_codes_for_order(order: Order) -> list[str]:
    """The codes of the vouchers spent on an order, for its pages. No side effects."""
    return list(
        order.voucher_redemptions.select_related("voucher")
        .order_by("pk")
        .values_list("voucher__code", flat=True)
    )
