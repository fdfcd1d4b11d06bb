"""Newsletter consent (the mailing itself comes with the newsletter issue)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NewsletterConsent(models.Model):
    """One act of giving or withdrawing consent, with the exact wording shown."""

    class Source(models.TextChoices):
        CHECKOUT = "checkout", _("ticket checkout")
        ACCOUNT = "account", _("account page")
        SIGNUP_FORM = "signup_form", _("sign-up form")

    email = models.EmailField(_("e-mail"), db_index=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    language = models.CharField(_("language"), max_length=8)
    given = models.BooleanField(
        _("given"), default=True, help_text=_("False records a withdrawal.")
    )
    wording = models.TextField(_("wording shown"))
    wording_version = models.CharField(_("wording version"), max_length=20)
    source = models.CharField(_("channel"), max_length=20, choices=Source.choices)
    recorded_at = models.DateTimeField(_("recorded at"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    order = models.ForeignKey(
        "ticketing.Order", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        verbose_name = _("newsletter consent")
        verbose_name_plural = _("newsletter consents")

    def __str__(self) -> str:
        return f"{self.email} {'+' if self.given else '-'} {self.recorded_at:%Y-%m-%d}"
