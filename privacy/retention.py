"""Retention rules as data: the presets of the source documents, and when a row falls due.

A rule says how long a declaration's rows are needed and what happens then (delete or
anonymise). The values here are the defaults of the source documents; the retention
settings that sites or the manager change in the admin come with the privacy app's models
and override ``years``/``days`` by the rule's ``key``.

Periods follow the usual legal reading (Regulation 1182/71): a period "N years after" a
day ends when the whole anniversary day has passed, and an anniversary that does not
exist (29 February) falls on the last day of that month. Days are local days of the
museum's time zone, so a visit at 23:30 belongs to its own day, not to the next one.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext, ngettext


class RetentionKind(enum.StrEnum):
    YEARS_AFTER_LAST_ACTIVITY = "years_after_last_activity"
    INACTIVITY = "inactivity"
    YEARS_AFTER_YEAR_END = "years_after_year_end"
    DAYS_AFTER = "days_after"
    DAYS_AFTER_VISIT = "days_after_visit"
    UNTIL_REFUND_PAID = "until_refund_paid"
    UNTIL_EXPIRY = "until_expiry"
    WHILE_ACCOUNT_EXISTS = "while_account_exists"
    WHILE_SUBSCRIBED = "while_subscribed"
    FOLLOWS = "follows"


class EndAction(enum.StrEnum):
    """What happens to a row whose retention has ended."""

    DELETE = "delete"
    ANONYMISE = "anonymise"
    WITH_PARENT = "with_parent"  # whatever happens to the row it belongs to


@dataclass(frozen=True)
class RetentionRule:
    """How long rows are kept, from which moment, and what happens when the time is up.

    ``anchor`` names the row's date fields (or lookup paths) whose latest value is the
    reference moment: the last activity, the visit, the refund's payment, the expiry.
    ``person_wide`` rules count the person's last activity across all their rows (seed
    002: "the last transaction"), not only this row's. ``follows`` rules have no clock of
    their own: the rows go with the row named by ``anchor[0]`` (a ticket with its order).
    """

    kind: RetentionKind
    then: EndAction
    anchor: tuple[str, ...] = ()
    years: int = 0
    days: int = 0
    person_wide: bool = False

    def __post_init__(self) -> None:
        if self.years < 0 or self.days < 0:
            raise ValueError("A retention period cannot be negative.")

    @property
    def key(self) -> str:
        """A stable name of the rule, for the admin's settings and the purge reports."""
        return str(self.kind)

    # --- when a row falls due -----------------------------------------------------------

    def due_at(self, reference: dt.datetime | dt.date) -> dt.datetime | None:
        """The first moment (aware, local midnight) at which a row anchored at ``reference``
        is past its retention; None for rules that end on an event, not on a clock.

        ``reference`` is the latest anchor value: the last activity, the visit, the
        payment of the refund, the expiry. No side effects.
        """
        day = _local_day(reference)
        if self.kind in (
            RetentionKind.YEARS_AFTER_LAST_ACTIVITY,
            RetentionKind.YEARS_AFTER_YEAR_END,
        ):
            # "N years after the end of the calendar year": the year ends on 31 December.
            return _midnight(dt.date(day.year + self.years + 1, 1, 1))
        if self.kind is RetentionKind.WHILE_SUBSCRIBED:
            # ``reference`` is the withdrawal; the proof is kept N years after its year.
            return _midnight(dt.date(day.year + self.years + 1, 1, 1))
        if self.kind is RetentionKind.INACTIVITY:
            return _midnight(add_years(day, self.years) + dt.timedelta(days=1))
        if self.kind in (RetentionKind.DAYS_AFTER, RetentionKind.DAYS_AFTER_VISIT):
            return _midnight(day + dt.timedelta(days=self.days + 1))
        if self.kind in (RetentionKind.UNTIL_REFUND_PAID, RetentionKind.UNTIL_EXPIRY):
            if isinstance(reference, dt.datetime):
                return reference + dt.timedelta(days=self.days)
            return _midnight(day + dt.timedelta(days=self.days))
        return None

    def is_due(self, reference: dt.datetime | dt.date | None, *, now: dt.datetime) -> bool:
        """True when a row anchored at ``reference`` is past retention at ``now``.

        A row without a reference yet (no refund paid, still subscribed, a clock-less
        rule) is never due. No side effects.
        """
        if reference is None:
            return False
        due = self.due_at(reference)
        return due is not None and now >= due

    # --- in words ------------------------------------------------------------------------

    @property
    def description(self) -> str:
        """The rule in words, in the active language, starting in lower case so that it
        reads after a label ("Orders: 5 years after ..."); see ``describe``."""
        return self.describe()

    def describe(self, *, parent: str = "") -> str:
        """The rule in words; ``parent`` names the record a FOLLOWS rule goes with."""
        years, days = self.years, self.days
        if self.kind is RetentionKind.YEARS_AFTER_LAST_ACTIVITY:
            return ngettext(
                "%(n)s year after the end of the calendar year of your last transaction",
                "%(n)s years after the end of the calendar year of your last transaction",
                years,
            ) % {"n": years}
        if self.kind is RetentionKind.INACTIVITY:
            return ngettext(
                "until %(n)s year without activity (no purchase, no sign-in, no newsletter "
                "opened), then anonymised",
                "until %(n)s years without activity (no purchase, no sign-in, no newsletter "
                "opened), then anonymised",
                years,
            ) % {"n": years}
        if self.kind is RetentionKind.YEARS_AFTER_YEAR_END:
            return ngettext(
                "%(n)s year after the end of the calendar year in which it was recorded",
                "%(n)s years after the end of the calendar year in which it was recorded",
                years,
            ) % {"n": years}
        if self.kind is RetentionKind.DAYS_AFTER:
            return ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
        if self.kind is RetentionKind.DAYS_AFTER_VISIT:
            return ngettext("%(n)s day after the visit", "%(n)s days after the visit", days) % {
                "n": days
            }
        if self.kind is RetentionKind.UNTIL_REFUND_PAID:
            return gettext("until the refund is paid")
        if self.kind is RetentionKind.UNTIL_EXPIRY:
            return gettext("until it expires")
        if self.kind is RetentionKind.WHILE_ACCOUNT_EXISTS:
            return gettext("as long as the account exists")
        if self.kind is RetentionKind.WHILE_SUBSCRIBED:
            return ngettext(
                "while you are subscribed; after you unsubscribe, %(n)s year after the end of "
                "that calendar year, as proof of your consent",
                "while you are subscribed; after you unsubscribe, %(n)s years after the end of "
                "that calendar year, as proof of your consent",
                years,
            ) % {"n": years}
        if parent:
            return gettext("as long as the %(record)s it belongs to") % {"record": parent}
        return gettext("as long as the record it belongs to")

    def __str__(self) -> str:
        return self.description


def _local_day(value: dt.datetime | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise ValueError("Retention needs timezone-aware datetimes.")
        return timezone.localtime(value).date()
    return value


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` N years later; 29 February becomes 28 February in a common year."""
    year = day.year + years
    last = calendar.monthrange(year, day.month)[1]
    return day.replace(year=year, day=min(day.day, last))


class Retention:
    """The presets of the source documents. Each returns an immutable RetentionRule."""

    @staticmethod
    def years_after_last_activity(
        years: int,
        *,
        activity: tuple[str, ...] | str = ("created_at",),
        then: EndAction = EndAction.DELETE,
    ) -> RetentionRule:
        """Seed 002: "N years after the end of the calendar year of the last transaction".

        ``activity`` names the row's date fields that count as a transaction; the purge
        takes the person's latest across all their rows.
        """
        return RetentionRule(
            kind=RetentionKind.YEARS_AFTER_LAST_ACTIVITY,
            then=then,
            anchor=_tuple(activity),
            years=years,
            person_wide=True,
        )

    @staticmethod
    def inactivity_anonymise(
        years: int, *, activity: tuple[str, ...] | str = ("last_login",)
    ) -> RetentionRule:
        """Seed 003: "after N years of inactivity (no purchase, no sign-in, no newsletter
        opened) the data is anonymised" and only used in aggregate."""
        return RetentionRule(
            kind=RetentionKind.INACTIVITY,
            then=EndAction.ANONYMISE,
            anchor=_tuple(activity),
            years=years,
            person_wide=True,
        )

    @staticmethod
    def years_after_year_end(
        years: int, *, of: str = "created_at", then: EndAction = EndAction.DELETE
    ) -> RetentionRule:
        """Records kept for a legal period counted from the end of their own year
        (accounting records, proofs of requests)."""
        return RetentionRule(
            kind=RetentionKind.YEARS_AFTER_YEAR_END, then=then, anchor=(of,), years=years
        )

    @staticmethod
    def days_after(days: int, *, of: str = "created_at") -> RetentionRule:
        """Technical records needed only a short while (outgoing e-mail, retries)."""
        return RetentionRule(
            kind=RetentionKind.DAYS_AFTER, then=EndAction.DELETE, anchor=(of,), days=days
        )

    @staticmethod
    def days_after_visit(days: int, *, visit: str = "visited_at") -> RetentionRule:
        """Badges of secure-area guests (seed 000): kept N days after the visit."""
        return RetentionRule(
            kind=RetentionKind.DAYS_AFTER_VISIT, then=EndAction.DELETE, anchor=(visit,), days=days
        )

    @staticmethod
    def until_refund_paid(*, paid: str = "refunded_at") -> RetentionRule:
        """Bank details asked for a refund (seed 000): deleted once the refund is paid."""
        return RetentionRule(
            kind=RetentionKind.UNTIL_REFUND_PAID, then=EndAction.DELETE, anchor=(paid,)
        )

    @staticmethod
    def until_expiry(*, expires: str) -> RetentionRule:
        """Sessions and confirmation links: deleted when they expire."""
        return RetentionRule(
            kind=RetentionKind.UNTIL_EXPIRY, then=EndAction.DELETE, anchor=(expires,)
        )

    @staticmethod
    def while_account_exists() -> RetentionRule:
        """Rows that exist only for an account: they go when the account is closed."""
        return RetentionRule(kind=RetentionKind.WHILE_ACCOUNT_EXISTS, then=EndAction.DELETE)

    @staticmethod
    def while_subscribed(*, proof_years: int, withdrawn: str = "recorded_at") -> RetentionRule:
        """Newsletter consent: kept while subscribed; a withdrawal is kept ``proof_years``
        after the end of its calendar year as proof, then anonymised."""
        return RetentionRule(
            kind=RetentionKind.WHILE_SUBSCRIBED,
            then=EndAction.ANONYMISE,
            anchor=(withdrawn,),
            years=proof_years,
        )

    @staticmethod
    def follows(path: str) -> RetentionRule:
        """Rows that live and die with another row (a ticket with its order)."""
        return RetentionRule(kind=RetentionKind.FOLLOWS, then=EndAction.WITH_PARENT, anchor=(path,))


def _tuple(value: tuple[str, ...] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
