"""The notice e-mail before an account is anonymised for inactivity."""

from __future__ import annotations

import datetime as dt

import pytest

from accounts.models import User
from museum.models import OutboxEmail
from privacy.purge import purge_send_inactivity_notices
from tests.accounts.factories import UserFactory
from tests.privacy.test_purge import at

pytestmark = pytest.mark.django_db


def _last_seen(email: str, when: dt.datetime, language: str = "en") -> User:
    user = UserFactory(email=email, preferred_language=language)
    User.objects.filter(pk=user.pk).update(last_login=when, date_joined=when)
    return user


def test_a_person_is_warned_once_before_their_account_is_anonymised(
    django_capture_on_commit_callbacks,
):
    # given an account last seen on 10 March 2016 (anonymised from 11 March 2023),
    # one already due and one seen recently
    soon = _last_seen("soon@example.org", at(2016, 3, 10, 18))
    _last_seen("due@example.org", at(2016, 1, 5))
    _last_seen("recent@example.org", at(2022, 1, 5))
    # when the notices are sent on 20 February 2023, 30 days ahead
    with django_capture_on_commit_callbacks(execute=False):
        queued = purge_send_inactivity_notices(as_of=at(2023, 2, 20), notice_days=30)
    # then only the account that falls due within 30 days is warned, with the day
    assert queued == 1
    email = OutboxEmail.objects.get()
    assert email.to == soon.email
    assert email.subject == "Your account will be anonymised on 11 March 2023"
    assert "http://testserver/accounts/login/" in email.body_text
    # and running again the next day sends nothing more
    with django_capture_on_commit_callbacks(execute=False):
        purge_send_inactivity_notices(as_of=at(2023, 2, 21), notice_days=30)
    assert OutboxEmail.objects.count() == 1


def test_the_notice_is_in_the_persons_language(django_capture_on_commit_callbacks):
    _last_seen("fr@example.org", at(2016, 3, 10, 18), language="fr")
    with django_capture_on_commit_callbacks(execute=False):
        purge_send_inactivity_notices(as_of=at(2023, 2, 20), notice_days=30)
    email = OutboxEmail.objects.get()
    assert email.language == "fr"
    assert "mars 2023" in email.subject


def test_no_notice_when_nobody_falls_due_in_the_window(django_capture_on_commit_callbacks):
    _last_seen("soon@example.org", at(2016, 3, 10, 18))
    with django_capture_on_commit_callbacks(execute=False):
        queued = purge_send_inactivity_notices(as_of=at(2023, 2, 1), notice_days=7)
    assert queued == 0
    assert OutboxEmail.objects.count() == 0
