"""Shared helpers of the admin tests: the frozen Wednesday morning, staff users, paid orders."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.utils import timezone

from accounts.models import User
from tests.staff import totp_activate
from ticketing.models import Order
from ticketing.services.orders import OrderLine, order_place

TZ = timezone.get_current_timezone()

# A Wednesday morning, before the first slot of the day.
NOW = dt.datetime(2031, 5, 14, 8, 30, tzinfo=TZ)

TODAY = NOW.date()


def at(hour: int, minute: int = 0, *, days: int = 0) -> dt.datetime:
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=TZ)


def _staff(email: str, group: str | None) -> User:
    user = User.objects.create_user(email=email, password="x-unused-x", is_staff=True)
    if group:
        user.groups.add(Group.objects.get(name=group))
    totp_activate(user)  # staff reach the admin only with a second factor
    return user


def _paid_order(slot, ticket_type, quantity=2, email="visitor@example.org") -> Order:
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.DESK,
        email=email,
        name="Visitor",
        payment_method=Order.PaymentMethod.CASH,
        now=NOW,
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _form_data(response) -> dict:
    """The values of the admin change form as a browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = field.widget.format_value(value) if hasattr(value, "pk") else value
    return data
