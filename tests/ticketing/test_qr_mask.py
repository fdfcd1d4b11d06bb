"""The tickets' QR codes: the faster mask choice gives qrcode's own symbol, module for module."""

from __future__ import annotations

import random
import string

import pytest
import qrcode
from qrcode import util

from ticketing.documents import _penalty, _qr_matrix

ALPHABET = string.ascii_letters + string.digits + "-_"


def _reference(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def _samples() -> list[str]:
    rng = random.Random(20261123)  # fixed: the same codes on every run
    tickets = ["".join(rng.choices(ALPHABET, k=27)) for _ in range(40)]
    cards = ["C" + "".join(rng.choices(ALPHABET, k=27)) for _ in range(20)]
    other = ["".join(rng.choices(ALPHABET, k=rng.randint(1, 150))) for _ in range(20)]
    return tickets + cards + other


@pytest.mark.parametrize("data", _samples())
def test_the_qr_matrix_is_the_one_qrcode_makes_itself(data):
    # given qrcode's own symbol (the mask chosen by its eight full placements)
    expected = _reference(data).get_matrix()
    # when ours is made
    matrix = _qr_matrix(data)
    # then every module is the same
    assert matrix == expected


@pytest.mark.parametrize("data", _samples()[::8])
def test_the_penalty_of_every_mask_is_qrcodes(data):
    # given qrcode's test layouts of the eight masks
    code = _reference(data)
    for pattern in range(8):
        code.makeImpl(True, pattern)
        rows = ["".join("1" if module else "0" for module in row) for row in code.modules]
        # then our score of each is qrcode's
        assert _penalty(rows, len(rows)) == util.lost_point(code.modules), pattern
