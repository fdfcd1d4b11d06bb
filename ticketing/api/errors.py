"""API errors: domain errors become 4xx answers with a code and a translated message."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ticketing.errors import DailyCapReached, SoldOut, TicketingError

# Capacity refusals are conflicts with the current state (retrying later may work);
# every other rule of the shop refuses the request as sent.
CONFLICT_ERRORS = (SoldOut, DailyCapReached)


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = _(
        "This Idempotency-Key was already used for a different request. "
        "Use a new key for a new request."
    )


class IdempotencyKeyInProgress(exceptions.APIException):
    status_code = 409
    default_code = "idempotency_key_in_progress"
    default_detail = _(
        "A request with this Idempotency-Key is still being processed; retry in a moment."
    )


class InvalidIdempotencyKey(exceptions.APIException):
    status_code = 400
    default_code = "invalid_idempotency_key"
    default_detail = _("The Idempotency-Key header must be 1 to 255 printable ASCII characters.")


def exception_handler(exc, context):
    if isinstance(exc, TicketingError):
        status = 409 if isinstance(exc, CONFLICT_ERRORS) else 400
        body = {"code": exc.code, "detail": str(exc.message)}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(exc, exceptions.APIException)
        and not isinstance(exc, exceptions.ValidationError)
        and isinstance(response.data, dict)
        and "detail" in response.data
    ):
        # Every refusal other than bad input says which rule with a stable code.
        response.data = {"code": str(exc.get_codes()), "detail": response.data["detail"]}
    return response
