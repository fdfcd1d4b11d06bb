"""Shared helpers of the reseller API tests."""

from __future__ import annotations

from rest_framework.test import APIClient

from ticketing.models import (
    Order,
)
from ticketing.services.orders import OrderLine, order_place

ORDERS = "/api/v1/orders/"

SLOTS = "/api/v1/slots/"


def _client(token: str | None) -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _order_body(slot, *lines, **extra):
    return {
        "slot": str(slot.public_id),
        "tickets": [{"ticket_type": str(t.public_id), "quantity": q} for t, q in lines],
        **extra,
    }


def _reseller_order(reseller, slot, ticket_type, quantity=1):
    return order_place(
        lines=[OrderLine(slot.pk, ticket_type.pk, quantity)],
        channel=Order.Channel.RESELLER,
        reseller=reseller,
        payment_method=Order.PaymentMethod.INVOICE,
    )
