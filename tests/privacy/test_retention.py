"""Retention presets against fixed clocks: year ends in local time, leap days, events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from privacy.retention import EndAction, Retention, add_years

BRUSSELS = ZoneInfo("Europe/Brussels")


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BRUSSELS)


def test_five_years_after_the_end_of_the_calendar_year_of_the_last_transaction():
    rule = Retention.years_after_last_activity(5)

    # a purchase late on New Year's Eve counts for that year (local time, not UTC)
    assert rule.due_at(local(2020, 12, 31, 23, 30)) == local(2026, 1, 1)
    assert not rule.is_due(local(2020, 12, 31, 23, 30), now=local(2025, 12, 31, 23, 59, 59))
    assert rule.is_due(local(2020, 12, 31, 23, 30), now=local(2026, 1, 1))
    # ten minutes later it is the next year (still 2020 in UTC): one more year
    just_after = local(2021, 1, 1, 0, 10)
    assert just_after.astimezone(dt.UTC).year == 2020
    assert rule.due_at(just_after) == local(2027, 1, 1)
    # the whole year is one period: 1 January and 31 December fall due together
    assert rule.due_at(local(2021, 1, 1, 9)) == rule.due_at(local(2021, 12, 31, 18))


def test_seven_years_of_inactivity_end_after_the_anniversary_day():
    rule = Retention.inactivity_anonymise(7)

    assert rule.then is EndAction.ANONYMISE
    assert rule.due_at(local(2021, 3, 10, 15)) == local(2028, 3, 11)
    assert not rule.is_due(local(2021, 3, 10, 15), now=local(2028, 3, 10, 23, 59))
    assert rule.is_due(local(2021, 3, 10, 15), now=local(2028, 3, 11))


def test_a_leap_day_anniversary_falls_on_28_february():
    rule = Retention.inactivity_anonymise(7)

    # 29 February 2020 + 7 years: 2027 has no 29 February
    assert add_years(dt.date(2020, 2, 29), 7) == dt.date(2027, 2, 28)
    assert rule.due_at(local(2020, 2, 29, 12)) == local(2027, 3, 1)
    # and into a leap year from 28 February, the anniversary stays the 28th
    assert add_years(dt.date(2021, 2, 28), 3) == dt.date(2024, 2, 28)
    assert rule.due_at(dt.date(2021, 2, 28)) == local(2028, 2, 29)


def test_days_after_the_visit_count_local_days():
    rule = Retention.days_after_visit(1)

    # a late visit before the spring change of clocks: the day after the visit ends first
    assert rule.due_at(local(2026, 3, 28, 23, 30)) == local(2026, 3, 30)
    assert not rule.is_due(local(2026, 3, 28, 23, 30), now=local(2026, 3, 29, 23, 59))
    assert rule.is_due(local(2026, 3, 28, 23, 30), now=local(2026, 3, 30, 0, 0))


def test_a_technical_record_goes_after_its_days():
    rule = Retention.days_after(7)

    assert rule.due_at(local(2026, 12, 28, 8)) == local(2027, 1, 5)


def test_bank_details_go_once_the_refund_is_paid():
    rule = Retention.until_refund_paid()
    paid = local(2026, 5, 4, 10, 15)

    assert rule.is_due(None, now=local(2030, 1, 1)) is False  # not paid yet: kept
    assert rule.due_at(paid) == paid
    assert rule.is_due(paid, now=paid)


def test_a_withdrawn_consent_is_kept_as_proof_until_the_end_of_the_period():
    rule = Retention.while_subscribed(proof_years=5)

    assert rule.is_due(None, now=local(2040, 1, 1)) is False  # still subscribed
    assert rule.due_at(local(2024, 6, 1, 12)) == local(2030, 1, 1)


@pytest.mark.parametrize("rule", [Retention.while_account_exists(), Retention.follows("order")])
def test_event_rules_have_no_clock(rule):
    assert rule.due_at(local(2000, 1, 1)) is None
    assert rule.is_due(local(2000, 1, 1), now=local(2100, 1, 1)) is False


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        Retention.days_after(1).due_at(dt.datetime(2026, 1, 1, 12))  # noqa: DTZ001


def test_rules_are_immutable_and_negative_periods_refused():
    rule = Retention.years_after_last_activity(5)

    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.years = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="negative"):
        Retention.days_after(-1)


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            Retention.years_after_last_activity(5),
            "5 years after the end of the calendar year of your last transaction",
        ),
        (
            Retention.years_after_last_activity(1),
            "1 year after the end of the calendar year of your last transaction",
        ),
        (
            Retention.inactivity_anonymise(7),
            "until 7 years without activity (no purchase, no sign-in, no newsletter opened), "
            "then anonymised",
        ),
        (Retention.days_after_visit(2), "2 days after the visit"),
        (Retention.days_after(90), "90 days"),
        (Retention.until_refund_paid(), "until the refund is paid"),
        (Retention.while_account_exists(), "as long as the account exists"),
    ],
)
def test_rules_say_themselves_in_words(rule, words):
    assert rule.description == words
