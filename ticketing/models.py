"""Exhibitions, ticket types, time slots, orders, tickets, payments and resellers."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from museum.models import Site, TimeStampedModel

# Order codes avoid letters and digits that are easily confused when read out at a desk.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_order_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def new_secret() -> str:
    """A 160-bit ticket or link secret, URL- and QR-friendly."""
    return secrets.token_urlsafe(20)


class Exhibition(TimeStampedModel):
    """The permanent collection (no dates) or a temporary exhibition of a site."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="exhibitions")
    slug = models.SlugField(_("slug"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    starts_on = models.DateField(_("opens on"), null=True, blank=True)
    ends_on = models.DateField(_("closes on"), null=True, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["site", "position", "slug"]
        verbose_name = _("exhibition")
        verbose_name_plural = _("exhibitions")
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=models.F("starts_on")),
                name="exhibition_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_permanent(self) -> bool:
        return self.starts_on is None and self.ends_on is None

    def runs_on(self, day: dt.date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )


class TicketType(TimeStampedModel):
    """A kind of ticket with its price; valid for a whole site or one exhibition."""

    class Kind(models.TextChoices):
        ADULT = "adult", _("Adult")
        REDUCED = "reduced", _("Reduced")
        CHILD = "child", _("Child")
        FREE = "free", _("Free")
        GROUP = "group", _("Group")
        CARD_HOLDER = "card", _("Museum card holder")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="ticket_types")
    exhibition = models.ForeignKey(
        Exhibition,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ticket_types",
        help_text=_("Leave empty for a ticket valid for every exhibition of the site."),
    )
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("who it is for"), max_length=300, blank=True)
    price_cents = models.PositiveIntegerField(_("price (cents, VAT included)"))
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("6.00"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    max_per_order = models.PositiveSmallIntegerField(_("maximum per order"), default=10)
    admits = models.PositiveSmallIntegerField(
        _("persons admitted"), default=1, help_text=_("Seats one ticket takes in a slot.")
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["site", "position", "pk"]
        verbose_name = _("ticket type")
        verbose_name_plural = _("ticket types")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_per_order__gte=1), name="ticket_type_max_per_order_positive"
            ),
            models.CheckConstraint(condition=Q(admits__gte=1), name="ticket_type_admits_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class SlotRule(TimeStampedModel):
    """How time slots are generated: every N minutes within the site's opening hours."""

    exhibition = models.ForeignKey(Exhibition, on_delete=models.CASCADE, related_name="slot_rules")
    interval_minutes = models.PositiveSmallIntegerField(_("every (minutes)"), default=30)
    duration_minutes = models.PositiveSmallIntegerField(_("entry window (minutes)"), default=30)
    capacity = models.PositiveIntegerField(_("capacity per slot"))
    weekdays = models.JSONField(
        _("weekdays"), default=list, blank=True, help_text=_("Empty means every open day.")
    )
    valid_from = models.DateField(_("from"), null=True, blank=True)
    valid_until = models.DateField(_("until"), null=True, blank=True)
    last_entry_before_close_minutes = models.PositiveSmallIntegerField(
        _("last entry before closing (minutes)"), default=60
    )

    class Meta:
        verbose_name = _("slot rule")
        verbose_name_plural = _("slot rules")
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_minutes__gte=5), name="slot_rule_interval_min_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exhibition}: every {self.interval_minutes} min, {self.capacity}"


class TimeSlot(TimeStampedModel):
    """An entry window into an exhibition; its capacity is what can be sold in it."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="time_slots")
    exhibition = models.ForeignKey(Exhibition, on_delete=models.PROTECT, related_name="time_slots")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("capacity"))
    is_cancelled = models.BooleanField(_("cancelled"), default=False)
    rule = models.ForeignKey(
        SlotRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="time_slots"
    )

    class Meta:
        ordering = ["starts_at"]
        verbose_name = _("time slot")
        verbose_name_plural = _("time slots")
        constraints = [
            models.UniqueConstraint(
                fields=["exhibition", "starts_at"], name="time_slot_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="time_slot_ends_after_start"
            ),
        ]
        indexes = [models.Index(fields=["site", "starts_at"])]

    def __str__(self) -> str:
        local = timezone.localtime(self.starts_at)
        return f"{self.exhibition} {local:%Y-%m-%d %H:%M}"


class Reseller(TimeStampedModel):
    """A partner that sells tickets through the API with its own token."""

    name = models.CharField(_("name"), max_length=200)
    contact_email = models.EmailField(_("contact e-mail"))
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(_("token starts with"), max_length=8, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    webhook_url = models.URLField(
        _("webhook address"),
        blank=True,
        help_text=_("Optional: cancellations and refunds of its orders are POSTed here, signed."),
    )
    webhook_secret = models.CharField(
        _("webhook signing secret"), max_length=64, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("reseller")
        verbose_name_plural = _("resellers")

    def __str__(self) -> str:
        return self.name


class ResellerAllocation(models.Model):
    """Seats of a slot kept for one reseller: nobody else can buy them.

    The reseller may sell beyond its allocation from the seats still open to everyone.
    """

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="allocations")
    time_slot = models.ForeignKey(
        TimeSlot, on_delete=models.CASCADE, related_name="reseller_allocations"
    )
    seats = models.PositiveIntegerField(_("seats"))

    class Meta:
        verbose_name = _("reseller allocation")
        verbose_name_plural = _("reseller allocations")
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "time_slot"], name="allocation_unique_reseller_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reseller}: {self.seats}"


class OrderQuerySet(models.QuerySet["Order"]):
    def holding(self, now: dt.datetime) -> OrderQuerySet:
        return self.filter(status=Order.Status.PENDING, hold_expires_at__gt=now)


class Order(TimeStampedModel):
    """A purchase of tickets by one buyer, through one channel, paid once."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("order status", "awaiting payment")
        PAID = "paid", pgettext_lazy("order status", "paid")
        EXPIRED = "expired", pgettext_lazy("order status", "expired")
        CANCELLED = "cancelled", pgettext_lazy("order status", "cancelled")
        REFUND_PENDING = "refund_pending", pgettext_lazy("order status", "to be refunded")
        REFUNDED = "refunded", pgettext_lazy("order status", "refunded")

    class Channel(models.TextChoices):
        WEB = "web", _("web shop")
        DESK = "desk", _("front desk")
        RESELLER = "reseller", _("reseller")

    class PaymentMethod(models.TextChoices):
        NONE = "none", _("no payment (free)")
        STRIPE = "stripe", _("card (online)")
        DEMO = "demo", _("demo (no money moves)")
        CASH = "cash", _("cash")
        CARD_TERMINAL = "card_terminal", _("card terminal")
        INVOICE = "invoice", _("reseller invoice")
        VOUCHER = "voucher", _("voucher")

    # Unique by constraints (Meta), not unique=True: only exact lookups use these columns,
    # so the text_pattern_ops copies a unique CharField gets would only slow writes.
    code = models.CharField(_("order code"), max_length=12, default=new_order_code)
    access_token = models.CharField(max_length=40, default=new_secret, editable=False)
    site = models.ForeignKey(
        Site,
        on_delete=models.PROTECT,
        related_name="orders",
        null=True,
        blank=True,
        help_text=_("Empty for an order of museum cards only."),
    )
    # No index of its own: (status, hold_expires_at) serves every filter on the status.
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    payment_method = models.CharField(
        _("payment"), max_length=16, choices=PaymentMethod.choices, blank=True
    )
    # The buyer's e-mail address, name and reseller reference are in OrderBuyer (see
    # there); ``email``, ``name`` and ``reseller_reference`` below read and write them.
    language = models.CharField(_("language"), max_length=8, default="en")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
    )
    reseller = models.ForeignKey(
        Reseller,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        db_index=False,  # (reseller, created_at) starts with it
    )
    total_cents = models.PositiveIntegerField(_("total (cents)"), default=0)
    voucher_cents = models.PositiveIntegerField(
        _("paid with vouchers (cents)"),
        default=0,
        help_text=_("Part of the total paid with vouchers; the rest is paid with money."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    hold_expires_at = models.DateTimeField(_("seats held until"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sold by"),
    )
    resend_count = models.PositiveSmallIntegerField(default=0)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.CheckConstraint(
                condition=Q(voucher_cents__lte=models.F("total_cents")),
                name="order_voucher_not_more_than_total",
            ),
            models.UniqueConstraint(fields=["code"], name="order_code_unique"),
            models.UniqueConstraint(fields=["access_token"], name="order_access_token_unique"),
        ]
        indexes = [
            models.Index(fields=["status", "hold_expires_at"]),
            models.Index(fields=["reseller", "created_at"]),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def total(self) -> Decimal:
        return Decimal(self.total_cents) / 100

    @property
    def due_cents(self) -> int:
        """What is paid with money: the total less what vouchers pay."""
        return self.total_cents - self.voucher_cents

    # The buyer's details, kept in OrderBuyer. ``Order(email=...)`` and
    # ``Order.objects.create(email=...)`` work as if they were columns (Django passes
    # property keyword arguments to the setters); querysets go through ``buyer__email``.

    def buyer_or_none(self) -> OrderBuyer | None:
        """The buyer's details, or None (an anonymous desk sale, or erased)."""
        try:
            return self.buyer
        except OrderBuyer.DoesNotExist:
            return None

    def set_buyer(self, *, email: str = "", name: str = "", reseller_reference: str = "") -> None:
        """Set the buyer's details; saved with the order by ``save()``."""
        self.email = email
        self.name = name
        self.reseller_reference = reseller_reference

    def _buyer_get(self, name: str) -> str:
        buyer = self.buyer_or_none()
        return getattr(buyer, name) if buyer is not None else ""

    def _buyer_set(self, name: str, value: str) -> None:
        buyer = self.buyer_or_none()
        if buyer is None:
            buyer = OrderBuyer()
            self.buyer = buyer
        setattr(buyer, name, value)
        buyer.changed = True

    email = property(
        lambda self: self._buyer_get("email"), lambda self, v: self._buyer_set("email", v)
    )
    name = property(
        lambda self: self._buyer_get("name"), lambda self, v: self._buyer_set("name", v)
    )
    reseller_reference = property(
        lambda self: self._buyer_get("reseller_reference"),
        lambda self, v: self._buyer_set("reseller_reference", v),
    )

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the order, then the buyer's details if they were set or changed.

        ``update_fields`` may name ``email``, ``name`` or ``reseller_reference``: they are
        saved in OrderBuyer. Details that are all blank leave no OrderBuyer row.
        """
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            names = set(update_fields)
            buyer_names = names & set(BUYER_FIELDS)
            kwargs["update_fields"] = names - buyer_names
            if kwargs["update_fields"] or not buyer_names:
                super().save(*args, **kwargs)
            if not buyer_names:
                return
        else:
            super().save(*args, **kwargs)
        self._buyer_save()

    def _buyer_save(self) -> None:
        buyer = self._state.fields_cache.get("buyer")
        if buyer is None or not getattr(buyer, "changed", False):
            return
        buyer.order = self
        if buyer.email or buyer.name or buyer.reseller_reference:
            # A new row is inserted at once (Django would try an UPDATE first: the key is set).
            buyer.save(force_insert=buyer._state.adding)
        elif not buyer._state.adding:
            buyer.delete()
            buyer._state.adding = True
        buyer.changed = False


BUYER_FIELDS = ("email", "name", "reseller_reference")


class OrderBuyer(models.Model):
    """Who bought an order: the buyer's e-mail address, name and reseller reference.

    Kept apart from Order on purpose. The order is an accounting record, kept for the
    legal period; these details are personal data, erased once the retention rule or an
    erasure request says so, by deleting this narrow row. Deleting it leaves the order
    row and its indexes untouched: the nightly purge of a million orders deletes a
    million small rows instead of rewriting a million wide ones. No row when the order
    has no such details (an anonymous sale at the desk).
    """

    order = models.OneToOneField(
        Order,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="buyer",
        verbose_name=_("order"),
    )
    # Found by address only case-insensitively: the UPPER(email) index (Meta) serves that.
    email = models.EmailField(_("e-mail"), blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    reseller_reference = models.CharField(_("reseller reference"), max_length=100, blank=True)

    # Set when Order's properties change a value, so that Order.save() writes the row.
    changed = False

    class Meta:
        verbose_name = _("buyer of an order")
        verbose_name_plural = _("buyers of orders")
        indexes = [
            # A person's orders are found by address whatever its case (privacy access
            # bundle, erasure, purge, guest orders joining an account):
            # buyer__email__iexact is UPPER("email") = UPPER(%s).
            models.Index(Upper("email"), name="ticketing_buyer_email_upper"),
        ]

    def __str__(self) -> str:
        return self.email or self.name or str(self.pk)


class Ticket(TimeStampedModel):
    """One admission into one time slot, with the secret printed in its QR code."""

    class Status(models.TextChoices):
        RESERVED = "reserved", pgettext_lazy("ticket status", "reserved")
        VALID = "valid", pgettext_lazy("ticket status", "valid")
        CANCELLED = "cancelled", pgettext_lazy("ticket status", "cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tickets")
    time_slot = models.ForeignKey(TimeSlot, on_delete=models.PROTECT, related_name="tickets")
    ticket_type = models.ForeignKey(TicketType, on_delete=models.PROTECT, related_name="tickets")
    seats = models.PositiveSmallIntegerField(_("seats"), default=1)
    price_cents = models.PositiveIntegerField(_("price (cents)"))
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    museum_card = models.ForeignKey(
        "accounts.MuseumCard",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="slot_tickets",
        verbose_name=_("museum card"),
        help_text=_("For a card holder's 0 € slot ticket: the card it was booked with."),
    )
    secret = models.CharField(max_length=40, unique=True, default=new_secret, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RESERVED
    )
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    checked_in_gate = models.CharField(_("entrance"), max_length=60, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [models.Index(fields=["time_slot", "status"])]
        permissions = [
            ("check_in", _("Can check tickets in at the entrance")),
            ("sell_at_desk", _("Can sell tickets at the front desk")),
        ]

    def __str__(self) -> str:
        return f"{self.order.code}-{self.pk}"


class Payment(TimeStampedModel):
    """One attempt to pay an order through a provider, and what became of it."""

    class Status(models.TextChoices):
        STARTED = "started", pgettext_lazy("payment status", "started")
        SUCCEEDED = "succeeded", pgettext_lazy("payment status", "succeeded")
        FAILED = "failed", pgettext_lazy("payment status", "failed")
        REFUND_REQUESTED = "refund_requested", pgettext_lazy("payment status", "refund requested")
        REFUNDED = "refunded", pgettext_lazy("payment status", "refunded")

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField(_("provider"), max_length=20)
    reference = models.CharField(_("provider reference"), max_length=255, unique=True)
    payment_intent = models.CharField(_("payment intent"), max_length=255, blank=True)
    amount_cents = models.PositiveIntegerField(_("amount (cents)"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.STARTED
    )
    redirect_url = models.URLField(max_length=2000, blank=True)
    refund_reference = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.provider}:{self.reference}"


class WebhookEvent(models.Model):
    """A provider event handled once: its id is unique."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payment_intent = models.CharField(max_length=255, blank=True, db_index=True)
    created = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="webhook_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class ApiIdempotencyKey(models.Model):
    """The stored answer to a reseller's request with an Idempotency-Key header."""

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["reseller", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return self.key
