"""The museum card's public pages: buy, the holder's page, renew, the printable card, gifts.

A holder's page is found only by its unguessable link (or, signed in, among one's own
cards); payment goes through the ticket shop's pay page, like any order.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import selectors
from accounts.card_forms import CardBuyForm, CardGiftClaimForm, CardRenewForm
from accounts.documents import card_number_display, card_pdf
from accounts.models import CardProduct, MuseumCard
from accounts.services.cards import (
    CardError,
    card_gift_claim,
    card_gift_get_by_token,
    card_order_place,
)
from accounts.templatetags.cards import card_status_label
from museum.ratelimit import is_limited
from ticketing.documents import qr_svg
from ticketing.models import Order


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "ticketing/too_many.html", status=429)


def _after_order(order: Order) -> HttpResponse:
    if order.status == Order.Status.PAID:
        return redirect("ticketing:order_detail", token=order.access_token)
    return redirect("ticketing:order_pay", token=order.access_token)


def _user(request: HttpRequest):
    return request.user if request.user.is_authenticated else None


@require_http_methods(["GET", "POST"])
def card_buy(request: HttpRequest) -> HttpResponse:
    """Buy a museum card for oneself or as a gift, as a guest or signed in."""
    products = selectors.card_products_on_sale()
    user = _user(request)
    initial = {"holder_name": user.get_full_name(), "holder_email": user.email} if user else {}
    form = CardBuyForm(request.POST or None, products=products, initial=initial)
    if request.method == "POST":
        if is_limited(request, scope="checkout"):
            form.add_error(
                None, _("Too many attempts from your connection. Please wait a few minutes.")
            )
        elif form.is_valid():
            try:
                order = card_order_place(
                    product=form.cleaned_data["product"],
                    holder_name=form.cleaned_data["holder_name"],
                    holder_email=form.cleaned_data["holder_email"],
                    language=get_language() or settings.LANGUAGE_CODE,
                    user=user,
                    gift=form.gift(),
                )
            except CardError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                return _after_order(order)
    return render(
        request,
        "accounts/card/buy.html",
        {
            "form": form,
            "products": products,
            "hold_minutes": settings.TICKETING["HOLD_MINUTES"],
        },
        status=400 if request.method == "POST" else 200,
    )


def _renewal_product(card: MuseumCard) -> CardProduct | None:
    """What a renewal sells: the card's product, or the cheapest on sale once it is not."""
    return card.product if card.product.is_active else selectors.card_product_default()


def _renew_form(card: MuseumCard, data=None) -> CardRenewForm:
    # Ids carry the card number: "My museum card" shows several cards on one page.
    return CardRenewForm(
        data,
        initial={"email": card.holder_email},
        auto_id=f"id_renew_{card.number}_%s",
    )


def _card_context(card: MuseumCard, *, renew_form: CardRenewForm | None = None) -> dict:
    svg = re.sub(
        r'width="[^"]*" height="[^"]*"', 'width="220" height="220"', qr_svg(card.secret), count=1
    )
    today = timezone.localdate()
    renewal = _renewal_product(card)
    return {
        "card": card,
        "number": card_number_display(card.number),
        "status": card_status_label(card, today=today),
        "qr_svg": svg,
        "visits": selectors.card_visits(card),
        "today": today,
        "can_renew": renewal is not None
        and card.status in (MuseumCard.Status.NOT_ACTIVATED, MuseumCard.Status.ACTIVE),
        "price_cents": renewal.price_cents if renewal else None,
        "renew_months": renewal.validity_months if renewal else None,
        "renew_form": renew_form or _renew_form(card),
    }


def _card_by_token(request: HttpRequest, token: str) -> MuseumCard:
    card = selectors.card_get_by_token(token)
    if card is None:
        raise Http404("Unknown card")
    return card


@require_GET
def card_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The holder's page behind its secret link: data, QR, validity, visits, renewal."""
    if is_limited(request, scope="order_lookup"):
        return _too_many(request)
    card = _card_by_token(request, token)
    response = render(request, "accounts/card/detail.html", _card_context(card))
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
def card_pdf_download(request: HttpRequest, token: str) -> HttpResponse:
    """The printable card (PDF, card size)."""
    if is_limited(request, scope="order_lookup"):
        return _too_many(request)
    card = _card_by_token(request, token)
    if card.status == MuseumCard.Status.ENDED:
        raise Http404("Ended card")
    response = HttpResponse(card_pdf(card), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="museum-card-{card.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_POST
def card_renew(request: HttpRequest, token: str) -> HttpResponse:
    """Order a renewal of this card and go to the payment.

    The e-mail address is asked every time (prefilled with the card's): a card sold at
    the desk may have none, and a web order needs one for its confirmation.
    """
    if is_limited(request, scope="checkout"):
        return _too_many(request)
    card = _card_by_token(request, token)
    product = _renewal_product(card)
    if product is None:
        raise Http404("No card on sale")
    form = _renew_form(card, request.POST)
    if form.is_valid():
        try:
            order = card_order_place(
                product=product,
                holder_name=card.holder_name,
                holder_email=form.cleaned_data["email"],
                language=get_language() or card.language,
                user=_user(request),
                renew_card=card,
            )
        except CardError as exc:
            form.add_error("email" if exc.field == "holder_email" else None, exc.message)
        else:
            return _after_order(order)
    card.refresh_from_db()  # an ended card no longer offers the renewal
    context = _card_context(card, renew_form=form)
    response = render(request, "accounts/card/detail.html", context, status=400)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
def card_gift_claim_view(request: HttpRequest, token: str) -> HttpResponse:
    """The gift's recipient puts the card in their own name (the link works once)."""
    if is_limited(request, scope="order_lookup"):
        return _too_many(request)
    card = card_gift_get_by_token(token)
    if card is None:
        return render(request, "accounts/card/gift_gone.html", status=404)
    user = _user(request)
    form = CardGiftClaimForm(
        request.POST or None, initial={"holder_name": user.get_full_name()} if user else {}
    )
    if request.method == "POST" and form.is_valid():
        try:
            claimed = card_gift_claim(
                token=token, holder_name=form.cleaned_data["holder_name"], user=user
            )
        except CardError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("cards:detail", token=claimed.access_token)
    return render(
        request,
        "accounts/card/gift_claim.html",
        {"form": form, "card": card},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_GET
def my_cards(request: HttpRequest) -> HttpResponse:
    """A signed-in person's own cards (those whose holder account they are)."""
    cards = [_card_context(card) for card in selectors.cards_for_user(request.user)]
    response = render(request, "accounts/card/mine.html", {"cards": cards})
    response["Cache-Control"] = "private, no-store"
    return response
