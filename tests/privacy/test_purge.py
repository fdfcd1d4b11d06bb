"""The retention purge: presets against fixed clocks, legal holds, dry runs, crash and rerun."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import MuseumCard, User
from museum.models import OutboxEmail
from privacy import purge
from privacy.models import PurgeRun, RetentionSetting, SubjectRequest
from privacy.purge import PurgeError, purge_run, retention_cutoff
from privacy.registry import registry
from privacy.retention import Retention
from tests.accounts.card_factories import desk_card
from tests.accounts.factories import UserFactory
from tests.ticketing.factories import TicketTypeFactory, TimeSlotFactory
from ticketing.models import Order, Ticket

pytestmark = pytest.mark.django_db

ORDERS = "ticketing.order"
# The buyer's e-mail address and name: erasing them deletes the order's buyer row.
BUYERS = "ticketing.order:buyer"
OPEN_ORDER = str(registry.get(ORDERS).holds[0].reason)


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    """An aware moment in the museum's time zone."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=timezone.get_current_timezone())


def _order(
    *,
    email: str,
    when: dt.datetime,
    visit: dt.datetime | None = None,
    status: str = Order.Status.PAID,
    name: str = "Ada Lovelace",
    user: User | None = None,
) -> Order:
    """A paid desk order made at ``when`` with one valid ticket for a visit at ``visit``."""
    slot = TimeSlotFactory(starts_at=visit or when, ends_at=(visit or when) + dt.timedelta(hours=1))
    ticket_type = TicketTypeFactory(site=slot.site)
    order = Order.objects.create(
        site=slot.site,
        status=status,
        channel=Order.Channel.DESK,
        payment_method=Order.PaymentMethod.CASH,
        email=email,
        name=name,
        user=user,
        total_cents=1400,
    )
    Ticket.objects.create(
        order=order,
        time_slot=slot,
        ticket_type=ticket_type,
        price_cents=1400,
        vat_rate=ticket_type.vat_rate,
        status=Ticket.Status.VALID,
    )
    Order.objects.filter(pk=order.pk).update(
        created_at=when, paid_at=when if status == Order.Status.PAID else None
    )
    order.refresh_from_db()
    return order


def _buyer(order: Order) -> tuple[str, str, int | None]:
    order.refresh_from_db()
    return (order.email, order.name, order.user_id)


# --- cutoffs agree with the rules' own due_at -------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        Retention.years_after_last_activity(5),
        Retention.inactivity_anonymise(7),
        Retention.years_after_year_end(7),
        Retention.days_after(30),
        Retention.days_after_visit(14),
    ],
    ids=lambda r: r.key,
)
@pytest.mark.parametrize(
    "as_of",
    [at(2026, 1, 1, 0, 0), at(2025, 12, 31, 23, 59), at(2024, 2, 29, 9), at(2023, 3, 1, 0, 0)],
    ids=["new-year", "new-year-eve", "leap-day", "after-feb-28"],
)
def test_cutoff_selects_exactly_the_rows_the_rule_calls_due(rule, as_of):
    # given every local day from 12 years before as_of to as_of, at 00:00 and 23:59
    cutoff = retention_cutoff(rule, as_of=as_of)
    day = as_of.date() - dt.timedelta(days=365 * 12)
    # when / then the SQL cutoff and is_due agree on every one of them
    while day <= as_of.date():
        for moment in (
            at(day.year, day.month, day.day, 0, 0),
            at(day.year, day.month, day.day, 23, 59),
        ):
            assert (cutoff is not None and moment < cutoff.moment) == rule.is_due(
                moment, now=as_of
            ), moment
        assert (cutoff is not None and day <= cutoff.day) == rule.is_due(day, now=as_of), day
        day += dt.timedelta(days=1)


def test_cutoff_of_a_clockless_rule_is_none():
    assert retention_cutoff(Retention.follows("order"), as_of=at(2026, 1, 1)) is None
    assert retention_cutoff(Retention.while_account_exists(), as_of=at(2026, 1, 1)) is None


# --- orders: 5 years after the end of the calendar year of the last transaction ---------


def test_order_of_31_december_is_anonymised_on_1_january_five_years_later_not_before():
    # given an order on the last evening of 2020 and one just after midnight in 2021
    december = _order(email="dec@example.org", when=at(2020, 12, 31, 23, 30))
    january = _order(email="jan@example.org", when=at(2021, 1, 1, 0, 30))
    # when the purge runs one minute before 2026, nothing is due
    eve = purge_run(as_of=at(2025, 12, 31, 23, 59))
    assert eve.report[BUYERS]["deleted"] == 0
    assert _buyer(december) == ("dec@example.org", "Ada Lovelace", None)
    # when it runs at midnight on 1 January 2026
    run = purge_run(as_of=at(2026, 1, 1, 0, 0))
    # then only the 2020 order is anonymised; its amounts and tickets stay
    assert run.status == PurgeRun.Status.DONE
    assert run.report[BUYERS]["deleted"] == 1
    assert run.report[BUYERS]["held"] == {}
    assert _buyer(december) == ("", "", None)
    assert december.total_cents == 1400 and december.tickets.count() == 1
    assert _buyer(january) == ("jan@example.org", "Ada Lovelace", None)
    assert run.report["ticketing.ticket"]["kept"]
    # payments are accounting records with their own legal period (7 years): none due yet
    assert "kept" not in run.report["ticketing.payment"]
    assert run.report["ticketing.payment"]["deleted"] == 0


def test_an_order_is_kept_while_the_same_person_bought_later_in_any_case():
    # given an old order and a recent one by the same person, address in another case
    old = _order(email="ada@example.org", when=at(2019, 3, 1))
    recent = _order(email="ADA@Example.org", when=at(2023, 5, 1))
    # when the purge runs in 2026
    run = purge_run(as_of=at(2026, 6, 1))
    # then neither is anonymised: the last transaction is 2023
    assert run.report[BUYERS]["deleted"] == 0
    assert _buyer(old) == ("ada@example.org", "Ada Lovelace", None)
    assert _buyer(recent) == ("ADA@Example.org", "Ada Lovelace", None)


def test_a_site_setting_overrides_the_default_for_that_sites_orders_only():
    # given two 2022 orders at two sites, and a 2-year setting for the first site
    first = _order(email="a@example.org", when=at(2022, 5, 1))
    second = _order(email="b@example.org", when=at(2022, 5, 1))
    RetentionSetting.objects.create(rule_key=ORDERS, site=first.site, years=2)
    # when the purge runs in 2025
    run = purge_run(as_of=at(2025, 1, 1, 0, 0))
    # then only the first site's order is past its (shorter) retention
    assert run.report[BUYERS]["deleted"] == 1
    assert _buyer(first) == ("", "", None)
    assert _buyer(second) == ("b@example.org", "Ada Lovelace", None)


def test_a_switched_off_setting_keeps_the_rows_and_says_so():
    order = _order(email="a@example.org", when=at(2015, 5, 1))
    RetentionSetting.objects.create(rule_key=ORDERS, years=5, is_active=False)
    run = purge_run(as_of=at(2026, 1, 1), only_rule=BUYERS)
    assert run.report[BUYERS]["deleted"] == 0
    assert "Not enforced" in run.report[BUYERS]["kept"]
    assert _buyer(order) == ("a@example.org", "Ada Lovelace", None)


# --- accounts: anonymised after 7 years of inactivity (leap day) ------------------------


def test_account_last_seen_on_29_february_is_anonymised_after_28_february_seven_years_later():
    # given an account last seen on 29 February 2016
    user = UserFactory(email="leap@example.org", first_name="Leap", last_name="Day")
    User.objects.filter(pk=user.pk).update(
        last_login=at(2016, 2, 29, 18), date_joined=at(2016, 2, 29, 9)
    )
    # when the purge runs at the end of 28 February 2023, the account stays
    before = purge_run(as_of=at(2023, 2, 28, 23, 59), only_rule="accounts.user")
    user.refresh_from_db()
    assert before.report["accounts.user"]["anonymised"] == 0
    assert (user.email, user.first_name) == ("leap@example.org", "Leap")
    # when it runs at midnight on 1 March 2023
    after = purge_run(as_of=at(2023, 3, 1, 0, 0), only_rule="accounts.user")
    # then the account is anonymised
    user.refresh_from_db()
    assert after.report["accounts.user"]["anonymised"] == 1
    assert user.email == f"erased-{user.pk}@invalid"
    assert (user.first_name, user.last_name) == ("", "")


# --- N days after: outgoing e-mail ------------------------------------------------------


def test_outgoing_email_is_deleted_90_days_after_its_day():
    # given two e-mails, on 1 and 2 January 2025
    first = OutboxEmail.objects.create(
        to="a@example.org", subject="s", body_text="b", dedupe_key="first"
    )
    second = OutboxEmail.objects.create(
        to="b@example.org", subject="s", body_text="b", dedupe_key="second"
    )
    OutboxEmail.objects.filter(pk=first.pk).update(created_at=at(2025, 1, 1, 23, 59))
    OutboxEmail.objects.filter(pk=second.pk).update(created_at=at(2025, 1, 2, 0, 1))
    # when the purge runs at midnight 91 days after 1 January
    run = purge_run(as_of=at(2025, 4, 2, 0, 0), only_rule="museum.outboxemail")
    # then only the first is gone
    assert run.report["museum.outboxemail"]["deleted"] == 1
    assert list(OutboxEmail.objects.values_list("pk", flat=True)) == [second.pk]


# --- legal holds -------------------------------------------------------------------------


def test_a_visit_still_to_come_holds_all_the_persons_orders_and_is_reported():
    # given a person with a 2019 order and an order of 2019 for a visit after as_of
    past = _order(email="ada@example.org", when=at(2019, 3, 1))
    future = _order(email="ada@example.org", when=at(2019, 4, 1), visit=at(2026, 7, 1))
    other = _order(email="bob@example.org", when=at(2019, 3, 1))
    # when the purge runs in June 2026
    run = purge_run(as_of=at(2026, 6, 1))
    # then her orders are held and said so; Bob's is anonymised
    assert run.report[BUYERS]["held"] == {OPEN_ORDER: 2}
    assert run.report[BUYERS]["deleted"] == 1
    assert _buyer(past) == ("ada@example.org", "Ada Lovelace", None)
    assert _buyer(future) == ("ada@example.org", "Ada Lovelace", None)
    assert _buyer(other) == ("", "", None)


def test_an_order_awaiting_a_refund_is_held():
    order = _order(email="ada@example.org", when=at(2019, 3, 1), status=Order.Status.REFUND_PENDING)
    run = purge_run(as_of=at(2026, 6, 1), only_rule=BUYERS)
    assert run.report[BUYERS]["held"] == {OPEN_ORDER: 1}
    assert _buyer(order) == ("ada@example.org", "Ada Lovelace", None)


@pytest.mark.parametrize(
    ("status", "visit", "expected"),
    [
        (Order.Status.PAID, None, False),
        (Order.Status.PENDING, None, True),
        (Order.Status.PAID, at(2026, 7, 1), True),
    ],
    ids=["nothing-held", "first-alternative", "second-alternative-through-tickets"],
)
def test_a_hold_is_found_through_either_of_its_alternatives(status, visit, expected):
    # given one 2019 order, awaiting payment or with a visit to come or neither
    _order(email="ada@example.org", when=at(2019, 3, 1), status=status, visit=visit)
    hold = registry.get(ORDERS).holds[0].rows(at(2026, 6, 1))
    # when the purge checks the order hold one alternative at a time
    # then it finds what a single EXISTS over the whole condition finds
    assert hold.connector == "OR"
    assert purge._holds_any(Order, hold) is expected
    assert Order.objects.filter(hold).exists() is expected


def test_a_card_not_yet_started_is_held_with_its_reason():
    # given a card sold in 2019 and never started
    card = desk_card(email="aino@example.org", name="Aino Aalto")
    MuseumCard.objects.filter(pk=card.pk).update(created_at=at(2019, 3, 1))
    card.refresh_from_db()
    assert card.status == MuseumCard.Status.NOT_ACTIVATED
    # when the purge runs in 2026
    run = purge_run(as_of=at(2026, 6, 1), only_rule="accounts.museumcard")
    # then the card is held and keeps its holder
    reason = str(registry.get("accounts.museumcard").holds[0].reason)
    assert run.report["accounts.museumcard"]["held"] == {reason: 1}
    assert run.report["accounts.museumcard"]["anonymised"] == 0
    card.refresh_from_db()
    assert (card.holder_name, card.holder_email) == ("Aino Aalto", "aino@example.org")


def test_an_open_subject_request_holds_the_persons_rows():
    # given an old order and an open request by its buyer
    order = _order(email="ada@example.org", when=at(2019, 3, 1))
    SubjectRequest.objects.create(
        kind=SubjectRequest.Kind.ACCESS, email="Ada@example.org", status=SubjectRequest.Status.OPEN
    )
    # when the purge runs
    run = purge_run(as_of=at(2026, 6, 1), only_rule=BUYERS)
    # then the order waits for the answer
    assert run.report[BUYERS]["held"] == {"An open request of the person about their data": 1}
    assert _buyer(order) == ("ada@example.org", "Ada Lovelace", None)


# --- dry runs, crashes, reruns -----------------------------------------------------------


def _state():
    return sorted(
        Order.objects.values_list("pk", "buyer__email", "buyer__name", "user_id", "total_cents"),
        key=str,
    )


def test_dry_run_changes_nothing_and_reports_what_the_real_run_then_does():
    # given three expired orders, one held
    for email in ("a@example.org", "b@example.org"):
        _order(email=email, when=at(2019, 3, 1))
    _order(email="c@example.org", when=at(2019, 3, 1), status=Order.Status.PENDING)
    before = _state()
    # when a dry run runs
    dry = purge_run(as_of=at(2026, 6, 1), dry_run=True, only_rule=BUYERS)
    # then nothing changed and it reports two to anonymise, one held
    assert _state() == before
    assert dry.dry_run is True and dry.cursor == {}
    assert dry.report[BUYERS]["deleted"] == 2
    assert dry.report[BUYERS]["held"] == {OPEN_ORDER: 1}
    # when the real run runs, it reports the same numbers
    real = purge_run(as_of=at(2026, 6, 1), only_rule=BUYERS)
    assert real.pk != dry.pk
    assert real.report == dry.report
    assert Order.objects.filter(buyer__isnull=True).count() == 2


def test_an_interrupted_purge_resumed_ends_as_one_clean_run(monkeypatch):
    # given five expired orders and one held
    orders = [_order(email=f"p{i}@example.org", when=at(2019, 3, 1)) for i in range(5)]
    held = _order(email="held@example.org", when=at(2019, 3, 1), status=Order.Status.PENDING)
    as_of = at(2026, 6, 1)
    batches = []

    def crash_after_two(run, declaration):
        batches.append(declaration.key)
        if len(batches) == 2:
            raise RuntimeError("worker lost")

    monkeypatch.setattr(purge, "after_batch", crash_after_two)
    # when the purge crashes after its second batch of two
    with pytest.raises(RuntimeError):
        purge_run(as_of=as_of, only_rule=BUYERS, batch_size=2)
    crashed = PurgeRun.objects.get()
    assert crashed.status == PurgeRun.Status.FAILED
    assert crashed.cursor == {BUYERS: orders[3].pk}
    assert Order.objects.filter(buyer__isnull=True).count() == 4
    # and runs again
    monkeypatch.setattr(purge, "after_batch", None)
    resumed = purge_run(as_of=as_of, only_rule=BUYERS, batch_size=2)
    # then the same run finished, as one clean run would have
    assert resumed.pk == crashed.pk
    assert resumed.status == PurgeRun.Status.DONE
    assert resumed.report[BUYERS]["deleted"] == 5
    assert resumed.report[BUYERS]["held"] == {OPEN_ORDER: 1}
    assert resumed.cursor == {BUYERS: orders[4].pk}
    assert Order.objects.get(pk=held.pk).name == "Ada Lovelace"
    assert [_buyer(o) for o in orders] == [("", "", None)] * 5
    assert Order.objects.get(buyer__email="held@example.org").name == "Ada Lovelace"


def test_running_twice_changes_nothing_more():
    for email in ("a@example.org", "b@example.org"):
        _order(email=email, when=at(2019, 3, 1))
    first = purge_run(as_of=at(2026, 6, 1))
    after_first = _state()
    second = purge_run(as_of=at(2026, 6, 1))
    assert first.report[BUYERS]["deleted"] == 2
    assert second.pk != first.pk
    assert second.report[BUYERS]["deleted"] == 0
    assert all(v["deleted"] == 0 and v["anonymised"] == 0 for v in second.report.values())
    assert _state() == after_first


def test_unknown_rule_is_refused_and_records_nothing():
    with pytest.raises(PurgeError):
        purge_run(only_rule="nope")
    assert PurgeRun.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_second_purge_is_refused_while_one_runs_and_changes_nothing():
    # given another session holding the purge lock, as a running purge does
    import psycopg
    from django.db import connection

    order = _order(email="a@example.org", when=at(2019, 3, 1))
    params = connection.get_connection_params()
    with psycopg.connect(**{**params, "autocommit": True}) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [purge.PURGE_LOCK])
        # when a purge starts
        with pytest.raises(PurgeError):
            purge_run(as_of=at(2026, 6, 1))
        # then it did nothing; a dry run still works
        assert PurgeRun.objects.count() == 0
        assert _buyer(order) == ("a@example.org", "Ada Lovelace", None)
        assert purge_run(as_of=at(2026, 6, 1), dry_run=True).report[BUYERS]["deleted"] == 1
    # and once the other session is gone, the purge runs
    assert purge_run(as_of=at(2026, 6, 1)).report[BUYERS]["deleted"] == 1
