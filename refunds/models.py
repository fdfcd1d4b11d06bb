"""Cancellation campaigns, refunds with their money path, bank transfer batches, vouchers."""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from museum.models import Closure, Site, TimeStampedModel
from ticketing.models import Exhibition, Order, Payment, Ticket, TimeSlot

VOUCHER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_refund_token() -> str:
    """The secret of a buyer's refund link (160 bits, URL-safe)."""
    return secrets.token_urlsafe(20)


def new_voucher_code() -> str:
    """A voucher code that reads out clearly at a desk: 12 characters in groups of four."""
    raw = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


class Choice(models.TextChoices):
    """What a buyer whose visit was cancelled chooses (or gets by default)."""

    REFUND = "refund", _("refund")
    REBOOK = "rebook", _("another date")
    VOUCHER = "voucher", _("voucher")


class Campaign(TimeStampedModel):
    """A cancellation by the museum: a slot, a day, an exhibition's dates or a site's closure.

    Running it offers every affected buyer a refund, a new date or a voucher; each affected
    order is one ``CampaignOrder`` so that the run is resumable and one failure is retried
    alone.
    """

    class Scope(models.TextChoices):
        SLOT = "slot", _("one time slot")
        DAY = "day", _("a day of an exhibition")
        EXHIBITION = "exhibition", _("an exhibition's dates")
        SITE = "site", _("the whole site (closure)")

    class Status(models.TextChoices):
        DRAFT = "draft", pgettext_lazy("campaign", "draft")
        RUNNING = "running", pgettext_lazy("campaign", "running")
        DONE = "done", pgettext_lazy("campaign", "done")
        FAILED = "failed", pgettext_lazy("campaign", "done, some orders failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    scope = models.CharField(_("what is cancelled"), max_length=12, choices=Scope.choices)
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="refund_campaigns")
    exhibition = models.ForeignKey(
        Exhibition,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund_campaigns",
        verbose_name=_("exhibition"),
    )
    time_slot = models.ForeignKey(
        TimeSlot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund_campaigns",
        verbose_name=_("time slot"),
    )
    first_day = models.DateField(_("first day"))
    last_day = models.DateField(_("last day"))
    reason = models.CharField(
        _("reason given to visitors"),
        max_length=300,
        help_text=_("Shown in the e-mail and on the buyer's page, e.g. 'a burst water pipe'."),
    )
    default_choice = models.CharField(
        _("if the buyer does not answer"),
        max_length=10,
        choices=Choice.choices,
        default=Choice.REFUND,
        help_text=_("Another date is never chosen for a buyer: it falls back to a refund."),
    )
    answer_days = models.PositiveSmallIntegerField(
        _("days to answer"), default=14, help_text=_("After this, the default applies.")
    )
    extend_cards = models.BooleanField(
        _("extend museum cards by the closed days"),
        default=True,
        help_text=_("Only for a closure of the whole site."),
    )
    closure = models.OneToOneField(
        Closure,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="refund_campaign",
        help_text=_("The closure this campaign put in place (a site closure stops sales)."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    answer_by = models.DateTimeField(_("buyers answer by"), null=True, blank=True)
    total_orders = models.PositiveIntegerField(_("orders affected"), default=0)
    cards_extended = models.PositiveIntegerField(_("museum cards extended"), default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("cancellation campaign")
        verbose_name_plural = _("cancellation campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(last_day__gte=models.F("first_day")),
                name="campaign_last_day_after_first",
            ),
            models.CheckConstraint(
                condition=~Q(scope="slot") | Q(time_slot__isnull=False),
                name="campaign_slot_scope_names_slot",
            ),
            models.CheckConstraint(
                condition=~Q(scope__in=["day", "exhibition"]) | Q(exhibition__isnull=False),
                name="campaign_exhibition_scope_names_exhibition",
            ),
        ]
        permissions = [("run_campaign", _("Can run a cancellation campaign"))]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} · {self.site} · {self.first_day}"


class CampaignOrder(models.Model):
    """One order a campaign affects: the unit of progress, failure and retry."""

    class Status(models.TextChoices):
        PENDING = "pending", pgettext_lazy("campaign order", "to do")
        DONE = "done", pgettext_lazy("campaign order", "done")
        FAILED = "failed", pgettext_lazy("campaign order", "failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="orders")
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="campaign_entries")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("affected order")
        verbose_name_plural = _("affected orders")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "order"], name="campaign_order_unique")
        ]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.order_id}"


class Refund(TimeStampedModel):
    """Money (or a voucher, or a new date) owed to one buyer for part or all of an order.

    Lifecycle: a customer's request is REQUESTED until staff approve or refuse it; a
    campaign's offer is OFFERED until the buyer (or the default) chooses. APPROVED means
    owed: the tickets are void and their seats back on sale; SENT means asked of Stripe or
    put in a bank transfer file; SUCCEEDED or FAILED is what came of it. REBOOKED and
    VOUCHER close an offer without money moving.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", pgettext_lazy("refund", "requested")
        OFFERED = "offered", pgettext_lazy("refund", "offered, awaiting the buyer")
        APPROVED = "approved", pgettext_lazy("refund", "approved")
        SENT = "sent", pgettext_lazy("refund", "sent")
        SUCCEEDED = "succeeded", pgettext_lazy("refund", "paid back")
        FAILED = "failed", pgettext_lazy("refund", "failed")
        REFUSED = "refused", pgettext_lazy("refund", "refused")
        REBOOKED = "rebooked", pgettext_lazy("refund", "moved to another date")
        VOUCHER = "voucher", pgettext_lazy("refund", "voucher issued")

    class Origin(models.TextChoices):
        CAMPAIGN = "campaign", _("cancellation by the museum")
        REQUEST = "request", _("buyer's request")

    class Method(models.TextChoices):
        STRIPE = "stripe", _("back to the card (Stripe)")
        DEMO = "demo", _("demo provider (no money moves)")
        BANK_TRANSFER = "bank", _("bank transfer")
        CASH = "cash", _("cash at the desk")
        RESELLER = "reseller", _("credited to the reseller")
        NOTHING = "nothing", _("nothing to pay (free tickets)")
        VOUCHER = "voucher", _("back on the voucher it was paid with")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    token = models.CharField(max_length=40, unique=True, default=new_refund_token, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, db_index=True)
    method = models.CharField(_("paid back by"), max_length=10, choices=Method.choices)
    tickets = models.ManyToManyField(Ticket, related_name="refunds", verbose_name=_("tickets"))
    choice = models.CharField(
        _("buyer's choice"), max_length=10, choices=Choice.choices, blank=True
    )
    chosen_by_default = models.BooleanField(_("default applied"), default=False)
    paid_cents = models.PositiveIntegerField(_("paid for these tickets (cents)"))
    fee_cents = models.PositiveIntegerField(_("fee kept (cents)"), default=0)
    amount_cents = models.PositiveIntegerField(_("to pay back (cents)"))
    voucher_cents = models.PositiveIntegerField(
        _("of which back on a voucher (cents)"),
        default=0,
        help_text=_("The part the buyer had paid with a voucher goes back to that voucher."),
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    answer_by = models.DateTimeField(_("answer by"), null=True, blank=True)
    buyer_reason = models.TextField(_("buyer's reason"), blank=True, max_length=1000)
    staff_reason = models.CharField(_("reason given by staff"), max_length=500, blank=True)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        help_text=_("The card payment a Stripe refund goes back to."),
    )
    attempt = models.PositiveSmallIntegerField(
        default=1, help_text=_("Raised on each retry after a failure: part of the idempotency key.")
    )
    provider_reference = models.CharField(_("provider refund id"), max_length=255, blank=True)
    # Bank details: personal data with their own retention (refunds/privacy.py).
    account_holder = models.CharField(_("account holder"), max_length=70, blank=True)
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    bic = models.CharField(_("BIC"), max_length=11, blank=True)
    bank_details_at = models.DateTimeField(_("bank details given at"), null=True, blank=True)
    bank_details_erased_at = models.DateTimeField(
        _("bank details erased at"), null=True, blank=True
    )
    transfer_batch = models.ForeignKey(
        "refunds.TransferBatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("transfer batch"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    succeeded_at = models.DateTimeField(_("paid back at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)
    failure = models.CharField(_("why it failed"), max_length=500, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_cents__lte=models.F("paid_cents")),
                name="refund_not_more_than_paid",
            ),
            models.CheckConstraint(
                condition=Q(fee_cents__lte=models.F("paid_cents")),
                name="refund_fee_not_more_than_paid",
            ),
            models.CheckConstraint(
                condition=Q(voucher_cents__lte=models.F("amount_cents")),
                name="refund_voucher_part_not_more_than_amount",
            ),
            models.UniqueConstraint(
                fields=["campaign", "order"],
                condition=Q(campaign__isnull=False),
                name="refund_one_per_campaign_order",
            ),
            # A buyer has at most one request waiting for staff per order.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="requested"),
                name="refund_one_open_request_per_order",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "answer_by"]),
            models.Index(fields=["method", "status"]),
        ]
        permissions = [
            ("decide_refund", _("Can approve or refuse refunds")),
            ("export_transfers", _("Can export and settle bank transfers")),
        ]

    def __str__(self) -> str:
        return f"{self.order.code} · {self.amount_cents / 100:.2f} {self.currency}"

    @property
    def money_cents(self) -> int:
        """What goes back as money (Stripe, bank, cash): the amount less the voucher part."""
        return self.amount_cents - self.voucher_cents

    @property
    def needs_bank_details(self) -> bool:
        return self.method == self.Method.BANK_TRANSFER and not self.iban and self.money_cents > 0


class TransferBatch(TimeStampedModel):
    """Bank refunds exported together as one SEPA credit-transfer file (pain.001)."""

    class Status(models.TextChoices):
        EXPORTED = "exported", pgettext_lazy("transfer batch", "exported")
        PAID = "paid", pgettext_lazy("transfer batch", "paid")

    message_id = models.CharField(_("message id"), max_length=35, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.EXPORTED
    )
    count = models.PositiveIntegerField(_("transfers"))
    total_cents = models.PositiveBigIntegerField(_("total (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    execution_date = models.DateField(_("requested execution date"))
    xml = models.TextField(_("pain.001 file"), editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("exported by"),
    )
    paid_at = models.DateTimeField(_("marked paid at"), null=True, blank=True)
    paid_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("marked paid by"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("bank transfer batch")
        verbose_name_plural = _("bank transfer batches")

    def __str__(self) -> str:
        return self.message_id


class Voucher(TimeStampedModel):
    """A credit of the value of cancelled tickets, to spend on a later visit."""

    code = models.CharField(_("code"), max_length=14, unique=True, default=new_voucher_code)
    refund = models.OneToOneField(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="voucher"
    )
    amount_cents = models.PositiveIntegerField(_("value (cents)"))
    balance_cents = models.PositiveIntegerField(_("left to spend (cents)"))
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    email = models.EmailField(_("sent to"), blank=True)
    language = models.CharField(_("language"), max_length=8, default="en")
    valid_until = models.DateField(_("valid until"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        constraints = [
            models.CheckConstraint(
                condition=Q(balance_cents__lte=models.F("amount_cents")),
                name="voucher_balance_not_more_than_value",
            )
        ]

    def __str__(self) -> str:
        return self.code


class VoucherRedemption(models.Model):
    """A voucher spent on an order; released (its value back on the voucher) when the order
    is never paid, or when its tickets are refunded."""

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="redemptions")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="voucher_redemptions")
    amount_cents = models.PositiveIntegerField(_("spent (cents)"))
    returned_cents = models.PositiveIntegerField(_("given back (cents)"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("voucher spent")
        verbose_name_plural = _("vouchers spent")
        constraints = [
            models.CheckConstraint(
                condition=Q(returned_cents__lte=models.F("amount_cents")),
                name="voucher_redemption_returned_not_more_than_spent",
            ),
            models.UniqueConstraint(fields=["voucher", "order"], name="voucher_once_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.voucher_id} → {self.order_id}: {self.amount_cents}"


class CardExtension(models.Model):
    """Days a museum card was extended because its sites were closed; once per campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="card_extensions")
    card = models.ForeignKey(
        "accounts.MuseumCard", on_delete=models.CASCADE, related_name="closure_extensions"
    )
    days = models.PositiveSmallIntegerField(_("days added"))
    valid_until_before = models.DateField(_("valid until, before"))
    valid_until_after = models.DateField(_("valid until, after"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("museum card extension")
        verbose_name_plural = _("museum card extensions")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "card"], name="card_extension_once")
        ]

    def __str__(self) -> str:
        return f"{self.card_id} +{self.days}"


class ResellerNotice(TimeStampedModel):
    """A cancellation or refund of a reseller's order, readable through the API and POSTed
    to the reseller's webhook when one is configured."""

    class Kind(models.TextChoices):
        ORDER_CANCELLED = "order.cancelled", _("order cancelled")
        TICKETS_CANCELLED = "tickets.cancelled", _("tickets cancelled")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reseller = models.ForeignKey(
        "ticketing.Reseller", on_delete=models.CASCADE, related_name="notices"
    )
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="reseller_notices")
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    dedupe_key = models.CharField(max_length=120, unique=True)
    payload = models.JSONField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("reseller notice")
        verbose_name_plural = _("reseller notices")
        indexes = [models.Index(fields=["reseller", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.order_id}"
