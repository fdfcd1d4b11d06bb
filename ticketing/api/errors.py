"""API errors: domain errors become 4xx answers with a code and a translated message."""

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ticketing.errors import SoldOut, TicketingError


def exception_handler(exc, context):
    if isinstance(exc, TicketingError):
        status = 409 if isinstance(exc, SoldOut) else 400
        body = {"code": exc.code, "detail": str(exc.message)}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=status)
    return drf_exception_handler(exc, context)
