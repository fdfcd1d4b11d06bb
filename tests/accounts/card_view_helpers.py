"""Shared helpers of the museum card page tests."""

from __future__ import annotations

import pypdfium2
import zxingcpp
from django.urls import reverse

BUY = reverse("cards:buy")


def _buy_form(**overrides) -> dict:
    return {
        "holder_name": "Aino Aalto",
        "holder_email": "aino@example.org",
        "recipient_email": "",
        "deliver_on": "",
        "greeting": "",
        **overrides,
    }


def _grouped(number: str) -> str:
    """A card number as people read it: three blocks of four digits."""
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def _qr_of(pdf: bytes) -> list[str]:
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=4).to_pil()
    return [code.text for code in zxingcpp.read_barcodes(image)]
