"""Visitor and staff accounts: signed in by e-mail, never by a username."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from museum.models import TimeStampedModel


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields) -> User:
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractUser):
    username = None  # type: ignore[assignment]
    email = models.EmailField(_("e-mail address"), unique=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    # Optional details: each is asked only with its reason shown next to it.
    phone = models.CharField(
        _("phone"),
        max_length=32,
        blank=True,
        validators=[RegexValidator(r"^\+?[0-9 ()./-]{6,30}$", _("Enter a valid phone number."))],
        help_text=_("Optional: only used to reach you about a booking that changes."),
    )
    postal_address = models.TextField(
        _("postal address"),
        blank=True,
        max_length=500,
        help_text=_("Optional: only used to post a museum card or an invoice you ask for."),
    )
    year_of_birth = models.PositiveSmallIntegerField(
        _("year of birth"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1900), MaxValueValidator(2100)],
        help_text=_("Optional: used only for age-based prices and anonymous statistics."),
    )

    # The last purchase, sign-in or newsletter opened (seed 003's "activity"): the
    # inactivity retention rule counts from here, kept up to date by those services.
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]

    objects = UserManager()  # type: ignore[misc, assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        indexes = [
            # Accounts are found by address whatever its case: a paid guest order marks
            # the matching account active, and privacy requests find it (email__iexact).
            models.Index(Upper("email"), name="accounts_user_email_upper"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email


class AccountClosureRequest(TimeStampedModel):
    """A holder's request to delete their account; carried out by the privacy app's erasure."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        DONE = "done", _("done")
        WITHDRAWN = "withdrawn", _("withdrawn")

    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="closure_requests"
    )
    email = models.EmailField(_("e-mail at the time of the request"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    reason = models.TextField(_("reason (optional)"), blank=True, max_length=2000)

    class Meta:
        verbose_name = _("account closure request")
        verbose_name_plural = _("account closure requests")

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"
