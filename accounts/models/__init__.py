"""Accounts and the personal museum card."""

from accounts.models.cards import CardProduct, CardPurchase, CardVisit, MuseumCard
from accounts.models.users import AccountClosureRequest, User, UserManager

__all__ = [
    "AccountClosureRequest",
    "CardProduct",
    "CardPurchase",
    "CardVisit",
    "MuseumCard",
    "User",
    "UserManager",
]
