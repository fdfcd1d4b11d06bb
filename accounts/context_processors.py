"""What every public page needs from the accounts app: whether the card shop is open."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.selectors import card_shop_is_open


def card_shop(request: HttpRequest) -> dict:
    """``card_shop_open``: a museum card is on sale (read only by a page that asks)."""
    return {"card_shop_open": SimpleLazyObject(card_shop_is_open)}
