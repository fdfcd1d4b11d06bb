"""The public ticket shop, the order page, the demo payment page and the entrance."""

from __future__ import annotations

import datetime as dt
import functools
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.services.card_scans import (
    CardScanResult,
    card_code_is_known,
    card_code_looks_like_a_card,
    card_scan,
)
from museum.models import Site
from museum.ratelimit import is_limited
from museum.templatetags.money import euros
from newsletter.services import consent_record_at_checkout
from refunds.errors import RefundError
from refunds.services.vouchers import voucher_apply, voucher_codes_for_order
from ticketing import selectors
from ticketing.documents import order_pdf
from ticketing.errors import TicketingError
from ticketing.forms import CheckInForm, CheckoutForm
from ticketing.models import Exhibition, Order, Payment, TimeSlot
from ticketing.payments import get_provider
from ticketing.payments.base import InvalidWebhook
from ticketing.payments.demo import DemoProvider
from ticketing.services.checkin import CheckInOutcome, ScanResult, ticket_check_in
from ticketing.services.orders import (
    PUBLIC_RESEND_LIMIT,
    OrderLine,
    order_place,
    order_resend,
)
from ticketing.services.payments import payment_event_handle, payment_start

logger = logging.getLogger(__name__)


def _exhibition_or_404(slug: str) -> Exhibition:
    return get_object_or_404(
        Exhibition.objects.select_related("site"), slug=slug, is_active=True, site__is_active=True
    )


# Days further than this from today have nothing on sale; refusing them also keeps the
# day's bounds away from the ends of the calendar (9999-12-31 + 1 day overflows).
_DAY_RANGE_DAYS = 3660


def _parse_day(value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Http404("Not a date") from exc
    if abs((day - timezone.localdate()).days) > _DAY_RANGE_DAYS:
        raise Http404("No sales on this day")
    return day


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The sites and their exhibitions now or soon on show."""
    today = timezone.localdate()
    sites = list(Site.objects.filter(is_active=True).prefetch_related("opening_hours"))
    exhibitions = [
        e
        for e in Exhibition.objects.filter(is_active=True, site__is_active=True).select_related(
            "site"
        )
        if e.ends_on is None or e.ends_on >= today
    ]
    for site in sites:
        site.shown_exhibitions = [e for e in exhibitions if e.site_id == site.pk]  # type: ignore[attr-defined]
    return render(request, "ticketing/home.html", {"sites": sites})


@require_GET
def exhibition_calendar(request: HttpRequest, slug: str) -> HttpResponse:
    """Month calendar with availability per day."""
    exhibition = _exhibition_or_404(slug)
    today = timezone.localdate()
    try:
        year, month = (int(x) for x in request.GET.get("month", "").split("-"))
        first = dt.date(year, month, 1)
    except (ValueError, OverflowError):
        first = today.replace(day=1)
    horizon = today + dt.timedelta(days=settings.TICKETING["SLOT_HORIZON_DAYS"] + 31)
    first = min(max(first, today.replace(day=1)), horizon.replace(day=1))
    days = selectors.exhibition_calendar(exhibition=exhibition, year=first.year, month=first.month)
    previous_month = (first - dt.timedelta(days=1)).replace(day=1)
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    leading_blanks = range(first.weekday())
    return render(
        request,
        "ticketing/calendar.html",
        {
            "exhibition": exhibition,
            "month": first,
            "days": days,
            "leading_blanks": leading_blanks,
            "weekday_names": [WEEKDAYS_ABBR[i] for i in range(7)],
            "previous_month": previous_month if previous_month >= today.replace(day=1) else None,
            "next_month": next_month if next_month <= horizon else None,
        },
    )


@require_GET
def exhibition_day(request: HttpRequest, slug: str, day: str) -> HttpResponse:
    """The time slots of one day with the places left.

    The slot list is a template fragment cached for TICKETING["DAY_PAGE_CACHE_SECONDS"] per
    exhibition, day and language, and the availability is computed only when the fragment
    is not cached: the busiest page of a sale costs one query. The places left may lag by
    that many seconds; placing an order re-checks capacity under the slot's lock, so
    nothing is sold past capacity (docs/performance.md).
    """
    exhibition = _exhibition_or_404(slug)
    the_day = _parse_day(day)
    availability = functools.cache(
        lambda: selectors.exhibition_day_slots(exhibition=exhibition, day=the_day)
    )
    return render(
        request,
        "ticketing/day.html",
        {
            "exhibition": exhibition,
            "day": the_day,
            "slots": SimpleLazyObject(lambda: availability()[0]),
            "closure": SimpleLazyObject(lambda: availability()[1]),
            "cache_seconds": settings.TICKETING["DAY_PAGE_CACHE_SECONDS"],
        },
    )


def _slot_or_404(exhibition: Exhibition, day: dt.date, hhmm: str) -> TimeSlot:
    try:
        start_time = dt.datetime.strptime(hhmm, "%H%M").time()
    except ValueError as exc:
        raise Http404("Not a time") from exc
    starts_at = dt.datetime.combine(day, start_time, tzinfo=timezone.get_current_timezone())
    return get_object_or_404(
        TimeSlot.objects.select_related("site", "exhibition"),
        exhibition=exhibition,
        starts_at=starts_at,
    )


@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, slug: str, day: str, hhmm: str) -> HttpResponse:
    """Quantities, contact and newsletter box for one slot; places the order on POST."""
    exhibition = _exhibition_or_404(slug)
    slot = _slot_or_404(exhibition, _parse_day(day), hhmm)
    ticket_types = selectors.ticket_types_for_exhibition(exhibition)
    user = request.user if request.user.is_authenticated else None
    initial = {"email": user.email, "name": user.get_full_name()} if user else {}
    if user is not None:
        initial["museum_cards"] = "\n".join(selectors.card_numbers_for_user(user))
    form = CheckoutForm(request.POST or None, ticket_types=ticket_types, initial=initial)
    if request.method == "POST":
        if is_limited(request, scope="checkout"):
            form.add_error(
                None, _("Too many attempts from your connection. Please wait a few minutes.")
            )
        elif form.is_valid():
            lines = [
                OrderLine(slot.pk, type_id, qty)
                for type_id, qty in form.quantities().items()
                if qty
            ]
            try:
                order = order_place(
                    lines=lines,
                    channel=Order.Channel.WEB,
                    email=form.cleaned_data["email"],
                    name=form.cleaned_data["name"],
                    language=get_language() or settings.LANGUAGE_CODE,
                    user=user,
                    museum_cards=form.museum_card_codes(),
                )
            except TicketingError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                if form.cleaned_data["newsletter"]:
                    consent_record_at_checkout(
                        email=order.email,
                        name=order.name,
                        language=order.language,
                        order=order,
                        user=user,
                    )
                if order.status == Order.Status.PAID:
                    return redirect("ticketing:order_detail", token=order.access_token)
                return redirect("ticketing:order_pay", token=order.access_token)
    free = {
        s.slot.pk: s.free
        for s in selectors.exhibition_day_slots(
            exhibition=exhibition, day=timezone.localtime(slot.starts_at).date()
        )[0]
    }
    return render(
        request,
        "ticketing/checkout.html",
        {
            "exhibition": exhibition,
            "slot": slot,
            "starts_at": timezone.localtime(slot.starts_at),
            "form": form,
            "free": free.get(slot.pk, 0),
            "hold_minutes": settings.TICKETING["HOLD_MINUTES"],
        },
        status=400 if request.method == "POST" else 200,
    )


def _order_by_token(request: HttpRequest, token: str) -> Order:
    if is_limited(request, scope="order_lookup"):
        raise TooManyLookups
    order = selectors.order_get_by_token(token)
    if order is None:
        raise Http404("Unknown order")
    return order


class TooManyLookups(Exception):
    pass


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "ticketing/too_many.html", status=429)


@require_http_methods(["GET", "POST"])
def order_pay(request: HttpRequest, token: str) -> HttpResponse:
    """Summary of a held order, a voucher code field, and the button that starts the payment.

    A POST with ``voucher_code`` spends a voucher (rate-limited like the checkout, as codes
    must not be guessed); any other POST starts the payment of what is left due.
    """
    try:
        order = _order_by_token(request, token)
    except TooManyLookups:
        return _too_many(request)
    if order.status != Order.Status.PENDING:
        return redirect("ticketing:order_detail", token=token)
    error = voucher_error = None
    voucher_code = ""
    if request.method == "POST" and "voucher_code" in request.POST:
        voucher_code = request.POST.get("voucher_code", "")[:40]
        voucher_error = _apply_voucher(request, order, voucher_code)
        if voucher_error is None:
            if order.status == Order.Status.PAID:
                return redirect("ticketing:order_detail", token=token)
            return redirect("ticketing:order_pay", token=token)
    elif request.method == "POST":
        try:
            payment = payment_start(
                order=order,
                success_url=request.build_absolute_uri(
                    reverse("ticketing:order_detail", kwargs={"token": token})
                ),
                cancel_url=request.build_absolute_uri(
                    reverse("ticketing:order_pay", kwargs={"token": token})
                ),
            )
        except TicketingError as exc:
            error = exc.message
        else:
            return redirect(payment.redirect_url)
    return render(
        request,
        "ticketing/order_pay.html",
        {
            "order": order,
            "tickets": selectors.order_tickets(order),
            "error": error,
            "voucher_error": voucher_error,
            "voucher_code": voucher_code,
            "voucher_codes": voucher_codes_for_order(order) if order.voucher_cents else [],
            "hold_expires_at": order.hold_expires_at,
        },
        status=400 if error or voucher_error else 200,
    )


def _apply_voucher(request: HttpRequest, order: Order, code: str) -> str | None:
    """Spend a voucher typed on the payment step; the message to show when refused."""
    if is_limited(request, scope="checkout"):
        return _("Too many attempts from your connection. Please wait a few minutes.")
    try:
        redemption = voucher_apply(order=order, code=code)
    except RefundError as exc:
        return str(exc.message)
    if order.status == Order.Status.PAID:
        messages.success(request, _("Your voucher paid for the whole order."))
    else:
        messages.success(
            request,
            _("%(amount)s of your voucher was applied. Left to pay: %(due)s.")
            % {"amount": euros(redemption.amount_cents), "due": euros(order.due_cents)},
        )
    return None


@require_GET
def order_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The order page behind its secret link: status, tickets, PDF, resend."""
    try:
        order = _order_by_token(request, token)
    except TooManyLookups:
        return _too_many(request)
    return render(
        request,
        "ticketing/order_detail.html",
        {"order": order, "tickets": selectors.order_tickets(order)},
    )


@require_GET
def order_pdf_download(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = _order_by_token(request, token)
    except TooManyLookups:
        return _too_many(request)
    if order.status != Order.Status.PAID or not order.tickets.exists():
        raise Http404("No tickets yet")
    response = HttpResponse(order_pdf(order), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="tickets-{order.code}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def order_resend_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = _order_by_token(request, token)
    except TooManyLookups:
        return _too_many(request)
    try:
        order_resend(order=order, limit=PUBLIC_RESEND_LIMIT)
    except TicketingError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("The tickets are on their way to %(email)s.") % {"email": order.email}
        )
    return redirect("ticketing:order_detail", token=token)


@require_http_methods(["GET", "POST"])
def demo_pay(request: HttpRequest, reference: str) -> HttpResponse:
    """The demo provider's payment page. No money moves."""
    if settings.PAYMENT_PROVIDER != "demo":
        raise Http404("Demo payments are off")
    payment = get_object_or_404(
        Payment.objects.select_related("order"), reference=reference, provider="demo"
    )
    if request.method == "POST":
        provider = DemoProvider()
        event = provider.parse_webhook(payload=provider.event_for(payment), headers={})
        payment_event_handle(provider_name="demo", event=event)
        return redirect("ticketing:order_detail", token=payment.order.access_token)
    return render(request, "ticketing/demo_pay.html", {"payment": payment, "order": payment.order})


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's webhook endpoint: verified with the stripe library, each event once."""
    if settings.PAYMENT_PROVIDER != "stripe":
        raise Http404("Stripe is not configured")
    provider = get_provider("stripe")
    try:
        event = provider.parse_webhook(payload=request.body, headers=dict(request.headers))
    except InvalidWebhook:
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    outcome = payment_event_handle(provider_name="stripe", event=event)
    return HttpResponse(str(outcome), status=200, content_type="text/plain")


@login_required
@permission_required("ticketing.check_in", raise_exception=True)
@require_http_methods(["GET", "POST"])
def check_in(request: HttpRequest) -> HttpResponse:
    """The entrance page: a scanner types the code, the answer fills the screen.

    A code that is no ticket is tried as a museum card at the site chosen on the page.
    """
    gate = request.session.get("check_in_gate", "")
    site_id = request.session.get("check_in_site")
    sites = {site.pk: site for site in Site.objects.order_by("position", "slug")}
    form = CheckInForm(
        request.POST or None, initial={"gate": gate, "site": site_id}, sites=list(sites.values())
    )
    outcome = card_outcome = None
    if request.method == "POST" and form.is_valid():
        gate, site = form.cleaned_data["gate"], sites.get(form.cleaned_data["site"])
        if request.session.get("check_in_gate") != gate:
            request.session["check_in_gate"] = gate
        if site is not None and site.pk != site_id:
            request.session["check_in_site"] = site_id = site.pk
        code = form.cleaned_data["code"]
        # A card's code never has a ticket's shape: no ticket lookup for it.
        is_card = card_code_looks_like_a_card(code)
        outcome = CheckInOutcome(ScanResult.UNKNOWN)
        if not is_card:
            outcome = ticket_check_in(code=code, gate=gate, actor=request.user)
        elif site is not None:
            scanned = card_scan(code=code, site=site, gate=gate, actor=request.user)
            if scanned.result != CardScanResult.UNKNOWN:
                outcome, card_outcome = None, scanned
        elif card_code_is_known(code):
            form.add_error("site", _("Choose the site of this entrance to check museum cards."))
            outcome = None
        if not form.errors:
            form = CheckInForm(initial={"gate": gate, "site": site_id}, sites=list(sites.values()))
    return render(
        request,
        "ticketing/check_in.html",
        {"form": form, "outcome": outcome, "card_outcome": card_outcome},
    )


@login_required
@require_GET
def my_orders(request: HttpRequest) -> HttpResponse:
    """A signed-in visitor's own orders."""
    return render(
        request, "ticketing/my_orders.html", {"orders": selectors.orders_for_user(request.user)}
    )
