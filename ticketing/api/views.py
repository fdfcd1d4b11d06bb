"""The reseller API: thin views that parse, scope to the reseller and call one service."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, pagination, renderers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ticketing.api import schema as _schema  # noqa: F401  registers the auth scheme
from ticketing.api import selectors as api_selectors
from ticketing.api.idempotency import (
    HEADER,
    idempotency_key_clean,
    idempotent_call,
    request_fingerprint,
)
from ticketing.api.serializers import (
    VALIDATION_ERROR_SCHEMA,
    ErrorSerializer,
    NoticePageSerializer,
    NoticeQuerySerializer,
    NoticeSerializer,
    OrderCreateSerializer,
    OrderSerializer,
    SlotQuerySerializer,
    SlotSerializer,
    TicketCancelSerializer,
)
from ticketing.documents import order_pdf
from ticketing.models import Exhibition, Order, Reseller, TicketType, TimeSlot
from ticketing.services.orders import Catalogue, OrderLine, order_place, tickets_cancel

ORDER_CODE = re.compile(r"[A-Za-z0-9]{1,12}")

UNAUTHORIZED = OpenApiResponse(
    ErrorSerializer, description=_("Missing, unknown or inactive token.")
)
NOT_FOUND = OpenApiResponse(ErrorSerializer, description=_("No such order of yours."))
BAD_INPUT = OpenApiResponse(
    VALIDATION_ERROR_SCHEMA,
    description=_(
        "Invalid input: messages per field. A refusal by a rule of the shop (not on sale, "
        "ticket type not sold for this slot, too many tickets, not cancellable) has the "
        "shape {code, detail, field}."
    ),
)
IDEMPOTENCY_KEY = OpenApiParameter(
    name=HEADER,
    type=str,
    location=OpenApiParameter.HEADER,
    required=False,
    description=_(
        "Makes retries safe: a request repeated with the same key and the same body gets "
        "the stored answer and places no new order. 1 to 255 printable ASCII characters."
    ),
)


class StrictJSONParser(JSONParser):
    """JSON only; nesting too deep for the parser is bad input, not a server error."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(_("JSON nested too deeply.")) from exc


class PdfRenderer(renderers.BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def _reseller(request) -> Reseller:
    return request.auth


def _order_or_404(request, code: str) -> Order:
    order = None
    if ORDER_CODE.fullmatch(code):
        order = api_selectors.order_get_for_reseller(reseller=_reseller(request), code=code)
    if order is None:
        raise exceptions.NotFound(_("No order of yours has this code."))
    return order


class ResellerApiView(APIView):
    parser_classes = [StrictJSONParser]
    renderer_classes = [renderers.JSONRenderer]


class SlotListView(ResellerApiView):
    @extend_schema(
        operation_id="slots_list",
        summary=_("Time slots on sale"),
        description=_(
            "Slots not cancelled, not over, of an exhibition on sale, on days the museum is "
            "open, with the places you can still sell. Without date or from/to: the next 31 days."
        ),
        parameters=[SlotQuerySerializer],
        responses={200: SlotSerializer(many=True), 400: BAD_INPUT, 401: UNAUTHORIZED},
    )
    def get(self, request):
        query = SlotQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        exhibition = None
        if slug := query.validated_data.get("exhibition"):
            exhibition = Exhibition.objects.filter(slug=slug).first()
            if exhibition is None:
                raise exceptions.ValidationError(
                    {"exhibition": [_("No exhibition has this slug.")]}
                )
        slots = api_selectors.slots_for_reseller(
            reseller=_reseller(request),
            first=query.validated_data["first"],
            last=query.validated_data["last"],
            exhibition=exhibition,
        )
        return Response(SlotSerializer(slots, many=True).data)


class OrderPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    get=extend_schema(
        operation_id="orders_list",
        summary=_("Your orders, newest first"),
        responses={
            200: OrderSerializer(many=True),
            401: UNAUTHORIZED,
            404: OpenApiResponse(ErrorSerializer, description=_("No such page.")),
        },
    ),
    post=extend_schema(
        operation_id="orders_create",
        summary=_("Place an order"),
        description=_(
            "Issues the tickets at once (invoiced to you). With an e-mail address the "
            "visitor also receives them. Send an Idempotency-Key to retry safely."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=OrderCreateSerializer,
        responses={
            201: OrderSerializer,
            400: BAD_INPUT,
            401: UNAUTHORIZED,
            409: OpenApiResponse(
                ErrorSerializer,
                description=_(
                    "Not enough places left (code sold_out or daily_cap), or a request "
                    "with the same Idempotency-Key is still running."
                ),
            ),
            415: OpenApiResponse(ErrorSerializer, description=_("The body is not JSON.")),
            422: OpenApiResponse(
                ErrorSerializer,
                description=_("The Idempotency-Key was used for a different request."),
            ),
        },
    ),
)
class OrderListCreateView(ResellerApiView, generics.GenericAPIView):
    pagination_class = OrderPagination
    serializer_class = OrderSerializer

    def get_queryset(self):
        return api_selectors.orders_for_reseller(_reseller(self.request))

    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        data = OrderSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    def post(self, request):
        key = idempotency_key_clean(request.headers.get(HEADER))
        if key is None:
            status_code, body = self._place(request)
            return Response(body, status=status_code)
        result = idempotent_call(
            reseller=_reseller(request),
            key=key,
            fingerprint=request_fingerprint(
                method=request.method, path=request.path, data=request.data
            ),
            call=lambda: self._place(request),
        )
        response = Response(result.body, status=result.status)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _place(self, request) -> tuple[int, dict]:
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # Read once with what order_place needs (site, exhibition), and handed over to it.
        slot = (
            TimeSlot.objects.select_related("site", "exhibition")
            .filter(public_id=data["slot"])
            .first()
        )
        if slot is None:
            raise exceptions.ValidationError({"slot": [_("No time slot has this id.")]})
        wanted = {line["ticket_type"] for line in data["tickets"]}
        ticket_types = {
            t.public_id: t for t in TicketType.objects.filter(public_id__in=wanted).order_by()
        }
        unknown = wanted - ticket_types.keys()
        if unknown:
            raise exceptions.ValidationError(
                {"tickets": [_("No ticket type has the id %(id)s.") % {"id": min(unknown)}]}
            )
        reseller = _reseller(request)
        order = order_place(
            lines=[
                OrderLine(slot.pk, ticket_types[line["ticket_type"]].pk, line["quantity"])
                for line in data["tickets"]
            ],
            channel=Order.Channel.RESELLER,
            email=data.get("email", ""),
            name=data.get("name", ""),
            language=data.get("language", "en"),
            reseller=reseller,
            reseller_reference=data.get("reference", ""),
            payment_method=Order.PaymentMethod.INVOICE,
            catalogue=Catalogue(
                slots={slot.pk: slot}, ticket_types={t.pk: t for t in ticket_types.values()}
            ),
        )
        # The order just placed is this reseller's: only its tickets are read back.
        prefetch_related_objects([order], api_selectors.ORDER_TICKETS)
        body = OrderSerializer(order, context={"request": request}).data
        # Rendered now so that a replay returns exactly these bytes' content.
        return status.HTTP_201_CREATED, json.loads(renderers.JSONRenderer().render(body))


class OrderDetailView(ResellerApiView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary=_("One of your orders"),
        responses={200: OrderSerializer, 401: UNAUTHORIZED, 404: NOT_FOUND},
    )
    def get(self, request, code: str):
        order = _order_or_404(request, code)
        return Response(OrderSerializer(order, context={"request": request}).data)


class OrderPdfView(ResellerApiView):
    renderer_classes = [PdfRenderer, renderers.JSONRenderer]

    @extend_schema(
        operation_id="orders_pdf",
        summary=_("The order's tickets as a PDF"),
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description=_("One page per ticket, with its QR code.")
            ),
            (401, "application/json"): UNAUTHORIZED,
            (404, "application/json"): NOT_FOUND,
        },
    )
    def get(self, request, code: str):
        order = _order_or_404(request, code)
        response = HttpResponse(order_pdf(order), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="tickets-{order.code}.pdf"'
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        # Refusals are JSON whatever the client accepts.
        if isinstance(response, Response):
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = request.accepted_renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class OrderCancelView(ResellerApiView):
    @extend_schema(
        operation_id="orders_cancel",
        summary=_("Cancel tickets of an order"),
        description=_(
            "Cancels the listed tickets, or every ticket not yet used. Used tickets cannot be "
            "cancelled: when one is listed nothing is changed."
        ),
        request=TicketCancelSerializer,
        responses={200: OrderSerializer, 400: BAD_INPUT, 401: UNAUTHORIZED, 404: NOT_FOUND},
    )
    def post(self, request, code: str):
        order = _order_or_404(request, code)
        serializer = TicketCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ticket_ids = None
        if "tickets" in serializer.validated_data:
            wanted = set(serializer.validated_data["tickets"])
            by_public_id = {t.public_id: t.pk for t in order.tickets.all()}
            if not wanted <= by_public_id.keys():
                raise exceptions.ValidationError(
                    {"tickets": [_("Some of these tickets are not in this order.")]}
                )
            ticket_ids = [by_public_id[public_id] for public_id in wanted]
        tickets_cancel(
            order=order,
            ticket_ids=ticket_ids,
            actor_label=_reseller(request).name,
            reason="reseller API",
        )
        updated = api_selectors.order_get_for_reseller(reseller=_reseller(request), code=order.code)
        return Response(OrderSerializer(updated, context={"request": request}).data)


class NoticeListView(ResellerApiView):
    @extend_schema(
        operation_id="notices_list",
        summary=_("Cancellations of your orders, oldest first"),
        description=_(
            "What the museum cancelled or refunded of your orders (a closure, a cancelled "
            "slot), oldest first. Keep the id of the last notice you read and pass it as "
            "after; follow next until it is null. With a webhook address, the same notices "
            "are also POSTed to you, signed in the Museum-Signature header."
        ),
        parameters=[NoticeQuerySerializer],
        responses={
            200: NoticePageSerializer,
            400: BAD_INPUT,
            401: UNAUTHORIZED,
        },
    )
    def get(self, request):
        from refunds.services.notices import reseller_notices_after

        query = NoticeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        found = reseller_notices_after(
            reseller=_reseller(request), after=query.validated_data.get("after"), limit=limit
        )
        if found is None:
            raise exceptions.ValidationError({"after": [_("No notice of yours has this id.")]})
        notices, more = found
        next_url = None
        if more:
            next_url = request.build_absolute_uri(
                f"{request.path}?{urlencode({'after': notices[-1].public_id, 'limit': limit})}"
            )
        return Response({"results": NoticeSerializer(notices, many=True).data, "next": next_url})
