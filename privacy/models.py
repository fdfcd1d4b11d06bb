"""The privacy app's own records: retention settings, purge runs, subject requests, erasures."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from museum.models import Site, TimeStampedModel


class RetentionSetting(TimeStampedModel):
    """The value a museum chose for a retention rule (the declarations carry the default).

    ``rule_key`` is a declaration key or a retention rule key; ``site`` empty means every
    site. The purge reads the most specific setting.
    """

    rule_key = models.CharField(_("rule"), max_length=100)
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, null=True, blank=True, related_name="retention_settings"
    )
    years = models.PositiveSmallIntegerField(_("years"), default=0)
    days = models.PositiveIntegerField(_("days"), default=0)
    is_active = models.BooleanField(_("enforced"), default=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("retention setting")
        verbose_name_plural = _("retention settings")
        constraints = [
            models.UniqueConstraint(
                fields=["rule_key", "site"], name="retention_setting_unique_rule_site"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_key}: {self.years}y {self.days}d"


class PurgeRun(models.Model):
    """One run of the retention purge (nightly or by hand, real or dry), and its report.

    ``cursor`` records, per declaration, the last primary key done, so that a run
    interrupted by a crash resumes where it stopped. ``report`` holds per declaration and
    category the numbers deleted, anonymised and held, with the holds' reasons.
    """

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    as_of = models.DateTimeField(_("as of"), help_text=_("The moment the rules were applied to."))
    dry_run = models.BooleanField(_("dry run"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    only_rule = models.CharField(_("only this rule"), max_length=100, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cursor = models.JSONField(_("progress"), default=dict, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("purge run")
        verbose_name_plural = _("purge runs")
        permissions = [("run_purge", _("Can run the retention purge (also as a dry run)"))]

    def __str__(self) -> str:
        kind = _("dry run") if self.dry_run else _("purge")
        return f"{kind} {self.started_at:%Y-%m-%d %H:%M} ({self.status})"


class SubjectRequest(TimeStampedModel):
    """A person's request under the GDPR, from receipt to answer, with its legal deadline."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("a copy of my data (access and portability)")
        RECTIFICATION = "rectification", _("correct my data (rectification)")
        ERASURE = "erasure", _("delete my data (erasure)")
        RESTRICTION = "restriction", _("restrict the processing of my data")
        OBJECTION = "objection", _("object to marketing")

    class Status(models.TextChoices):
        AWAITING_VERIFICATION = "unverified", _("awaiting e-mail confirmation")
        OPEN = "open", _("open")
        IN_PROGRESS = "in_progress", _("in progress")
        DONE = "done", _("done")
        REFUSED = "refused", _("refused")
        WITHDRAWN = "withdrawn", _("withdrawn")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("request"), max_length=20, choices=Kind.choices)
    email = models.EmailField(_("e-mail"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="subject_requests",
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    message = models.TextField(_("message"), blank=True, max_length=5000)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.AWAITING_VERIFICATION,
        db_index=True,
    )
    verified_at = models.DateTimeField(_("identity confirmed"), null=True, blank=True)
    due_on = models.DateField(_("answer due"), null=True, blank=True)
    extended_to = models.DateField(_("extended to"), null=True, blank=True)
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_subject_requests",
        verbose_name=_("assignee"),
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    outcome = models.TextField(_("answer given"), blank=True)

    class Meta:
        ordering = ["due_on", "created_at"]
        verbose_name = _("subject request")
        verbose_name_plural = _("subject requests")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.email}"


class SubjectRequestEvent(models.Model):
    """The request's audit trail and the DPO's internal notes; rows are never changed."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("when"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=40)
    note = models.TextField(_("note"), blank=True, max_length=5000)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("request event")
        verbose_name_plural = _("request events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


class ErasureRecord(models.Model):
    """An erasure, logged without personal data, to be applied again after a restore.

    ``subject_digest`` is a keyed hash of the person's e-mail (never the e-mail itself);
    ``plan`` lists, per declaration, the primary keys deleted or anonymised, which is what
    ``manage.py privacy_replay_erasures`` needs to repeat the erasure on a restored copy.
    """

    performed_at = models.DateTimeField(_("performed"))
    request_public_id = models.UUIDField(_("request"), null=True, blank=True)
    subject_digest = models.CharField(_("person (keyed hash)"), max_length=64, db_index=True)
    plan = models.JSONField(_("what was erased"), default=dict)
    replayed_at = models.DateTimeField(_("last replayed"), null=True, blank=True)

    class Meta:
        ordering = ["performed_at"]
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")

    def __str__(self) -> str:
        return f"{self.performed_at:%Y-%m-%d %H:%M} {self.subject_digest[:12]}"


class ProcessingRestriction(TimeStampedModel):
    """A person's restriction of processing, or objection to marketing, while it lasts.

    Every app that sends mail or processes for marketing asks
    ``privacy.selectors.is_restricted(email=…, purpose=…)`` before it does.
    """

    class Kind(models.TextChoices):
        RESTRICTION = "restriction", _("restriction of processing")
        MARKETING_OBJECTION = "marketing", _("objection to marketing")

    email = models.EmailField(_("e-mail"), db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    request = models.ForeignKey(
        SubjectRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(_("lifted"), null=True, blank=True)

    class Meta:
        verbose_name = _("processing restriction")
        verbose_name_plural = _("processing restrictions")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.email}"


class ConsentRecord(models.Model):
    """One act of giving or withdrawing a consent (other than the newsletter's), as shown.

    Rows are never changed: the current choice is the latest row for the person (e-mail or
    account) or the browser (``consent_id``, the random first-party cookie of the cookie
    banner) and the purpose. Written only by ``privacy.consent``.
    """

    class Purpose(models.TextChoices):
        MARKETING = "marketing", _("offers and invitations by e-mail")
        COOKIES_ANALYTICS = "cookies_analytics", _("analytics cookies")
        COOKIES_MARKETING = "cookies_marketing", _("marketing cookies")

    class Channel(models.TextChoices):
        WEB_FORM = "web_form", _("web form")
        ACCOUNT = "account", _("account page")
        COOKIE_BANNER = "cookie_banner", _("cookie banner")
        DESK = "desk", _("front desk")

    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    consent_id = models.CharField(_("browser consent id"), max_length=64, blank=True, db_index=True)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    given = models.BooleanField(_("given"), help_text=_("False records a withdrawal."))
    wording = models.TextField(_("wording shown"))
    wording_version = models.CharField(_("wording version"), max_length=20)
    language = models.CharField(_("language"), max_length=8, blank=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["-recorded_at", "-pk"]
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")

    def __str__(self) -> str:
        return f"{self.purpose} {'+' if self.given else '-'} {self.recorded_at:%Y-%m-%d}"


class TrackerSetting(TimeStampedModel):
    """A third-party script a manager chose to use; it runs only for visitors who opted in."""

    class Purpose(models.TextChoices):
        ANALYTICS = "analytics", _("analytics")
        MARKETING = "marketing", _("marketing")

    name = models.CharField(_("name"), max_length=100)
    script_url = models.URLField(
        _("script URL"), help_text=_("Loaded only after the visitor accepted; must use https.")
    )
    purpose = models.CharField(_("purpose"), max_length=10, choices=Purpose.choices)
    is_active = models.BooleanField(_("active"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("third-party tracker")
        verbose_name_plural = _("third-party trackers")

    def __str__(self) -> str:
        return self.name


class PageViewDay(models.Model):
    """How many times a page was shown on a day; no visitor, address or browser is kept.

    ``path`` is normalised: no query string, and every part of the URL that identifies
    something (an id, a token, a code) is replaced by ``*``.
    """

    path = models.CharField(_("page"), max_length=200)
    day = models.DateField(_("day"))
    count = models.PositiveIntegerField(_("views"), default=0)

    class Meta:
        ordering = ["-day", "path"]
        verbose_name = _("page views per day")
        verbose_name_plural = _("page views per day")
        constraints = [
            models.UniqueConstraint(fields=["path", "day"], name="pageviewday_unique_path_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.path}: {self.count}"
