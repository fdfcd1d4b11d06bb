"""The personal museum card: one holder, valid 12 months from its first visit."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from museum.models import Site, TimeStampedModel


def new_card_number() -> str:
    """A 12-digit card number for people to read out; not a secret (the QR secret is)."""
    return "".join(secrets.choice("0123456789") for _ in range(12))


def new_card_secret() -> str:
    return "C" + secrets.token_urlsafe(20)


class CardProduct(TimeStampedModel):
    """A kind of museum card on sale (e.g. the annual card), with its price."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    price_cents = models.PositiveIntegerField(_("price (cents, VAT included)"))
    vat_rate = models.DecimalField(
        _("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal("6.00")
    )
    validity_months = models.PositiveSmallIntegerField(_("valid for (months)"), default=12)
    is_active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("museum card product")
        verbose_name_plural = _("museum card products")

    def __str__(self) -> str:
        return self.name


class MuseumCard(TimeStampedModel):
    """A personal card. Validity starts at the first visit; renewals extend it.

    ``months_pending`` holds bought validity not yet started: the first 12 months of a new
    card, or a renewal bought after the card lapsed. The next first scan turns them into
    ``valid_from``/``valid_until``.
    """

    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", _("awaiting payment")
        AWAITING_HOLDER = "awaiting_holder", _("gift not yet claimed")
        NOT_ACTIVATED = "not_activated", _("not yet activated")
        ACTIVE = "active", _("activated")
        ENDED = "ended", _("ended")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    number = models.CharField(_("card number"), max_length=12, unique=True, default=new_card_number)
    secret = models.CharField(max_length=40, unique=True, default=new_card_secret, editable=False)
    product = models.ForeignKey(CardProduct, on_delete=models.PROTECT, related_name="cards")
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.AWAITING_PAYMENT
    )
    holder_name = models.CharField(_("holder's name"), max_length=200, blank=True)
    holder_email = models.EmailField(_("holder's e-mail"), blank=True, db_index=True)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="museum_cards",
        verbose_name=_("holder's account"),
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    months_pending = models.PositiveSmallIntegerField(_("months not yet started"), default=0)
    activated_at = models.DateTimeField(_("first visit"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("why it ended"), max_length=200, blank=True)
    # Gift: the buyer names the recipient; the recipient claims it into their own name.
    is_gift = models.BooleanField(_("gift"), default=False)
    gift_recipient_email = models.EmailField(_("recipient's e-mail"), blank=True)
    gift_deliver_on = models.DateField(_("deliver on"), null=True, blank=True)
    gift_greeting = models.TextField(_("greeting"), blank=True, max_length=1000)
    gift_sent_at = models.DateTimeField(_("gift e-mail sent"), null=True, blank=True)
    gift_claim_token = models.CharField(max_length=40, unique=True, null=True, blank=True)
    gift_claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    access_token = models.CharField(
        max_length=40, unique=True, default=new_card_secret, editable=False
    )

    class Meta:
        verbose_name = _("museum card")
        verbose_name_plural = _("museum cards")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True)
                | Q(valid_from__isnull=False, valid_until__gte=models.F("valid_from")),
                name="card_validity_ordered",
            ),
        ]
        permissions = [("view_card_settlement", _("Can see the card visit settlement"))]

    def __str__(self) -> str:
        return f"{self.number} {self.holder_name}"

    def is_valid_on(self, day: dt.date) -> bool:
        return (
            self.status == self.Status.ACTIVE
            and self.valid_from is not None
            and self.valid_until is not None
            and self.valid_from <= day <= self.valid_until
        )


class CardPurchase(TimeStampedModel):
    """One card bought or renewed in an order; applied to the card when the order is paid."""

    class Kind(models.TextChoices):
        NEW = "new", _("new card")
        RENEWAL = "renewal", _("renewal")
        GIFT = "gift", _("gift card")

    order = models.ForeignKey(
        "ticketing.Order", on_delete=models.CASCADE, related_name="card_purchases"
    )
    card = models.ForeignKey(MuseumCard, on_delete=models.PROTECT, related_name="purchases")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    months = models.PositiveSmallIntegerField(_("months"))
    price_cents = models.PositiveIntegerField(_("price (cents)"))
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("card purchase")
        verbose_name_plural = _("card purchases")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.card.number}"


class CardVisit(models.Model):
    """One admission with a museum card: the basis of the network's settlement."""

    card = models.ForeignKey(MuseumCard, on_delete=models.PROTECT, related_name="visits")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="card_visits")
    visited_at = models.DateTimeField(_("visited at"))
    gate = models.CharField(_("entrance"), max_length=60, blank=True)
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-visited_at"]
        verbose_name = _("card visit")
        verbose_name_plural = _("card visits")
        indexes = [models.Index(fields=["site", "visited_at"])]

    def __str__(self) -> str:
        return f"{self.card.number} @ {self.site} {self.visited_at:%Y-%m-%d}"
