"""The buyer's refund pages (built out by the buyer-pages work)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def refund_page(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404


def order_cancel_request(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404
