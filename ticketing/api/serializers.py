"""What the reseller API reads and writes, field by field."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ticketing.services.orders import MAX_TICKETS_PER_ORDER

# A reseller picks one slot per order; more lines than ticket types make no sense.
MAX_ORDER_LINES = 20
MAX_SLOT_RANGE_DAYS = 31
NOTICES_PER_PAGE = 50
MAX_NOTICES_PER_PAGE = 200


# --- Requests ----------------------------------------------------------------------------


class SlotQuerySerializer(serializers.Serializer):
    """Query string of the slot list; ``from`` and ``to`` are Python keywords, see get_fields."""

    exhibition = serializers.SlugField(
        required=False, max_length=50, help_text=_("Only the slots of this exhibition.")
    )
    date = serializers.DateField(
        required=False, help_text=_("One day (YYYY-MM-DD). Not together with from/to.")
    )
    from_ = serializers.DateField(
        required=False, help_text=_("First day (YYYY-MM-DD); today when left out.")
    )
    to = serializers.DateField(
        required=False,
        help_text=_("Last day, inclusive (YYYY-MM-DD); at most 31 days after the first."),
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs):
        day, first, last = attrs.get("date"), attrs.get("from"), attrs.get("to")
        if day is not None and (first is not None or last is not None):
            raise serializers.ValidationError(
                {"date": [_("Give either a date or a from/to range, not both.")]}
            )
        if day is not None:
            first = last = day
        if first is None:
            first = timezone.localdate()
        if last is None:
            last = first + dt.timedelta(days=MAX_SLOT_RANGE_DAYS - 1)
        if last < first:
            raise serializers.ValidationError({"to": [_("The last day is before the first.")]})
        if (last - first).days >= MAX_SLOT_RANGE_DAYS:
            raise serializers.ValidationError(
                {"to": [_("At most %(n)d days at once.") % {"n": MAX_SLOT_RANGE_DAYS}]}
            )
        attrs["first"], attrs["last"] = first, last
        return attrs


class OrderLineSerializer(serializers.Serializer):
    ticket_type = serializers.UUIDField(help_text=_("The id of a ticket type of the slot."))
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_TICKETS_PER_ORDER)


class OrderCreateSerializer(serializers.Serializer):
    slot = serializers.UUIDField(help_text=_("The id of a time slot from the slot list."))
    tickets = OrderLineSerializer(many=True, allow_empty=False, max_length=MAX_ORDER_LINES)
    email = serializers.EmailField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text=_("When given, the tickets are also e-mailed to the visitor."),
    )
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    language = serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        required=False,
        help_text=_("Language of the tickets and the e-mail."),
    )
    reference = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=_("Your own reference for this order, returned as is."),
    )


class NoticeQuerySerializer(serializers.Serializer):
    after = serializers.UUIDField(
        required=False,
        help_text=_(
            "The id of the last notice you have read (the cursor); the list goes on after it. "
            "Left out: from your first notice."
        ),
    )
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_NOTICES_PER_PAGE,
        default=NOTICES_PER_PAGE,
        help_text=_("How many notices at most (1 to 200, 50 when left out)."),
    )


class TicketCancelSerializer(serializers.Serializer):
    tickets = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        allow_empty=False,
        max_length=MAX_TICKETS_PER_ORDER,
        help_text=_("Ids of the tickets to cancel; every ticket still valid when left out."),
    )


# --- Responses ---------------------------------------------------------------------------


class TicketTypeSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    name = serializers.CharField()
    price_cents = serializers.IntegerField()
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    max_per_order = serializers.IntegerField()


class SlotSerializer(serializers.Serializer):
    """A ``ticketing.api.selectors.ResellerSlot``."""

    id = serializers.UUIDField(source="slot.public_id")
    exhibition = serializers.CharField(source="slot.exhibition.slug")
    site = serializers.CharField(source="slot.site.slug")
    starts_at = serializers.DateTimeField(source="slot.starts_at")
    ends_at = serializers.DateTimeField(source="slot.ends_at")
    capacity = serializers.IntegerField(source="slot.capacity")
    available = serializers.IntegerField(help_text=_("Places this reseller can still sell."))
    ticket_types = TicketTypeSerializer(many=True)


class TicketSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    secret = serializers.CharField(help_text=_("What the ticket's QR code holds."))
    ticket_type = serializers.UUIDField(source="ticket_type.public_id")
    slot = serializers.UUIDField(source="time_slot.public_id")
    status = serializers.CharField(help_text=_("valid or cancelled."))
    price_cents = serializers.IntegerField()
    checked_in = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_checked_in(self, ticket) -> bool:
        return ticket.checked_in_at is not None


class OrderSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField(
        help_text=_(
            "paid; cancelled once every ticket is; refunded when the museum cancelled its "
            "tickets (a closure) and credited you, see the notices."
        )
    )
    total_cents = serializers.IntegerField()
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    reference = serializers.CharField(source="reseller_reference")
    tickets = TicketSerializer(many=True)
    pdf_url = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdf_url(self, order) -> str:
        path = reverse("api-order-pdf", kwargs={"code": order.code})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class NoticeSerializer(serializers.Serializer):
    """A ``refunds.models.ResellerNotice``: what the museum did to one of your orders."""

    id = serializers.UUIDField(
        source="public_id", help_text=_("Pass it as after to read on from it.")
    )
    type = serializers.ChoiceField(
        source="kind",
        choices=["order.cancelled", "tickets.cancelled"],
        help_text=_("order.cancelled: no ticket admits any more; tickets.cancelled: some."),
    )
    created_at = serializers.DateTimeField()
    order = serializers.CharField(source="order.code", help_text=_("The order's code."))
    delivered_at = serializers.DateTimeField(
        allow_null=True, help_text=_("When your webhook took it; null without a webhook.")
    )
    payload = serializers.SerializerMethodField(
        help_text=_("Exactly the signed JSON body POSTed to your webhook.")
    )

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, notice) -> dict:
        from refunds.services.notices import reseller_notice_body

        return reseller_notice_body(notice)


class NoticePageSerializer(serializers.Serializer):
    results = NoticeSerializer(many=True)
    next = serializers.URLField(
        allow_null=True, help_text=_("The next page, or null when you have read them all.")
    )


class ErrorSerializer(serializers.Serializer):
    """A refusal: ``code`` says which rule, ``detail`` says it in words."""

    code = serializers.CharField()
    detail = serializers.CharField()
    field = serializers.CharField(required=False)


# Bad input: each field name maps to its messages (nested for the ticket lines);
# "non_field_errors" holds what concerns the request as a whole.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "additionalProperties": {},
}
