"""SEPA credit-transfer files (ISO 20022 pain.001) for refunds paid by bank transfer.

``pain001_build`` writes one file: a group header, one payment information block (the
museum's account pays) and one credit transfer per refund. The default version is
pain.001.001.03, the one every bank in the SEPA zone accepts; pain.001.001.09 (the 2019
rulebook's) is written on request. The tests validate both against the official XSD
schemas.

Text in the file is restricted to the SEPA Latin character set of the EPC guidelines:
letters a-z and A-Z, digits and ``/ - ? : ( ) . , ' +`` and space. ``sepa_latin``
transliterates accented and other Latin letters ("Åsa Öberg" becomes "Asa Oberg") and
refuses what has no Latin form; ``refunds.iban`` refuses such names when they are typed.

The museum's own account (the debtor) comes from settings: ``REFUNDS_DEBTOR_NAME``,
``REFUNDS_DEBTOR_IBAN`` and ``REFUNDS_DEBTOR_BIC`` (may be empty).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
import xml.etree.ElementTree as ET  # noqa: S405 - we only write XML, never parse input
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

__all__ = [
    "HOLDER_MAX_LENGTH",
    "NAMESPACES",
    "Debtor",
    "SepaTextError",
    "Transfer",
    "debtor_from_settings",
    "end_to_end_id",
    "new_message_id",
    "pain001_build",
    "sepa_latin",
]

NAMESPACES = {
    "03": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03",
    "09": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09",
}
HOLDER_MAX_LENGTH = 70  # the EPC limit of a party's name
REMITTANCE_MAX_LENGTH = 140
ID_MAX_LENGTH = 35

SEPA_CHARACTERS = re.compile(r"[A-Za-z0-9/\-?:().,'+ ]*")
# Latin letters that Unicode does not decompose into a base letter and an accent.
_SPECIAL = {
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ð": "d",
    "Ð": "D",
    "þ": "th",
    "Þ": "TH",
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ı": "i",
    "ħ": "h",
    "Ħ": "H",
    "&": "+",
    "’": "'",
    "‘": "'",
    "`": "'",
    "´": "'",
    "‐": "-",
    "‑": "-",
    "–": "-",
    "—": "-",
    "_": "-",
    '"': "'",
    "“": "'",
    "”": "'",
    "„": "'",
    "«": "'",
    "»": "'",
}


class SepaTextError(ValueError):
    """A text has characters that the SEPA Latin set cannot carry; ``characters`` lists them."""

    def __init__(self, characters: Sequence[str]) -> None:
        self.characters = tuple(characters)
        super().__init__("Not in the SEPA character set: " + " ".join(self.characters))


def sepa_latin(text: str) -> str:
    """``text`` in the SEPA Latin character set: accents dropped, special Latin letters
    spelled out, runs of spaces collapsed. No side effects.

    Raises: SepaTextError naming the characters that have no Latin form.
    """
    out: list[str] = []
    bad: list[str] = []
    for char in text:
        if char in _SPECIAL:
            out.append(_SPECIAL[char])
            continue
        if char.isspace():
            out.append(" ")
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        if base and SEPA_CHARACTERS.fullmatch(base):
            out.append(base)
        elif char not in bad:
            bad.append(char)
    if bad:
        raise SepaTextError(bad)
    return " ".join("".join(out).split())


@dataclass(frozen=True)
class Debtor:
    """The account that pays: the museum's."""

    name: str
    iban: str
    bic: str = ""


@dataclass(frozen=True)
class Transfer:
    """One credit transfer of the file: an amount to one creditor's account."""

    end_to_end_id: str
    amount_cents: int
    creditor_name: str
    creditor_iban: str
    remittance: str
    creditor_bic: str = ""


def debtor_from_settings() -> Debtor:
    """The museum's account from settings (REFUNDS_DEBTOR_NAME, _IBAN, _BIC); no side effects."""
    return Debtor(
        name=getattr(settings, "REFUNDS_DEBTOR_NAME", "") or "Museum",
        iban="".join(getattr(settings, "REFUNDS_DEBTOR_IBAN", "").split()).upper(),
        bic="".join(getattr(settings, "REFUNDS_DEBTOR_BIC", "").split()).upper(),
    )


def new_message_id(now: dt.datetime) -> str:
    """A unique message id (at most 35 characters): the moment plus 32 random bits."""
    return f"REFUNDS-{timezone.localtime(now):%Y%m%d%H%M%S}-{secrets.token_hex(4).upper()}"


def end_to_end_id(*, order_code: str, refund_pk: int) -> str:
    """The id that comes back on the bank statement for one refund: R, order code, refund."""
    return sepa_latin(f"R{order_code}-{refund_pk}")[:ID_MAX_LENGTH]


def amount_text(cents: int) -> str:
    """Cents as the file writes amounts: ``1250`` becomes ``12.50``."""
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def pain001_build(
    *,
    message_id: str,
    created_at: dt.datetime,
    execution_date: dt.date,
    debtor: Debtor,
    transfers: Sequence[Transfer],
    version: str = "03",
) -> bytes:
    """The pain.001 document (UTF-8 bytes with an XML declaration) paying ``transfers``
    from ``debtor`` on ``execution_date``, all in euros. No side effects.

    ``version`` is "03" (pain.001.001.03, the default) or "09". Texts are transliterated
    to the SEPA Latin set and cut to their maximum lengths.
    Raises: ValueError for no transfers, an unknown version, an amount that is not
    positive, or a text that cannot be transliterated (SepaTextError).
    """
    if version not in NAMESPACES:
        raise ValueError(f"Unknown pain.001 version {version!r}")
    if not transfers:
        raise ValueError("A transfer file needs at least one transfer.")
    if any(t.amount_cents <= 0 for t in transfers):
        raise ValueError("Every transfer must be of a positive amount.")
    namespace = NAMESPACES[version]
    total = sum(t.amount_cents for t in transfers)
    count = str(len(transfers))

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrs)
        if text is not None:
            element.text = text
        return element

    def agent(parent: ET.Element, tag: str, bic: str) -> None:
        institution = sub(sub(parent, tag), "FinInstnId")
        if bic:
            sub(institution, "BIC" if version == "03" else "BICFI", bic)
        else:
            # EPC guidelines: no BIC is given as "NOTPROVIDED" (IBAN-only transfers).
            sub(sub(institution, "Othr"), "Id", "NOTPROVIDED")

    document = ET.Element("Document", {"xmlns": namespace})
    initiation = sub(document, "CstmrCdtTrfInitn")

    header = sub(initiation, "GrpHdr")
    sub(header, "MsgId", sepa_latin(message_id)[:ID_MAX_LENGTH])
    sub(header, "CreDtTm", _iso_moment(created_at))
    sub(header, "NbOfTxs", count)
    sub(header, "CtrlSum", amount_text(total))
    sub(sub(header, "InitgPty"), "Nm", sepa_latin(debtor.name)[:HOLDER_MAX_LENGTH])

    payment = sub(initiation, "PmtInf")
    sub(payment, "PmtInfId", sepa_latin(message_id)[:ID_MAX_LENGTH])
    sub(payment, "PmtMtd", "TRF")
    sub(payment, "BtchBookg", "true")
    sub(payment, "NbOfTxs", count)
    sub(payment, "CtrlSum", amount_text(total))
    sub(sub(sub(payment, "PmtTpInf"), "SvcLvl"), "Cd", "SEPA")
    if version == "03":
        sub(payment, "ReqdExctnDt", execution_date.isoformat())
    else:
        sub(sub(payment, "ReqdExctnDt"), "Dt", execution_date.isoformat())
    sub(sub(payment, "Dbtr"), "Nm", sepa_latin(debtor.name)[:HOLDER_MAX_LENGTH])
    sub(sub(sub(payment, "DbtrAcct"), "Id"), "IBAN", debtor.iban)
    agent(payment, "DbtrAgt", debtor.bic)
    sub(payment, "ChrgBr", "SLEV")

    for transfer in transfers:
        item = sub(payment, "CdtTrfTxInf")
        sub(sub(item, "PmtId"), "EndToEndId", sepa_latin(transfer.end_to_end_id)[:ID_MAX_LENGTH])
        sub(sub(item, "Amt"), "InstdAmt", amount_text(transfer.amount_cents), Ccy="EUR")
        if transfer.creditor_bic:
            agent(item, "CdtrAgt", transfer.creditor_bic)
        sub(sub(item, "Cdtr"), "Nm", sepa_latin(transfer.creditor_name)[:HOLDER_MAX_LENGTH])
        sub(sub(sub(item, "CdtrAcct"), "Id"), "IBAN", transfer.creditor_iban)
        remittance = sepa_latin(transfer.remittance)[:REMITTANCE_MAX_LENGTH]
        sub(sub(item, "RmtInf"), "Ustrd", remittance)

    ET.indent(document)
    body = ET.tostring(document, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _iso_moment(moment: dt.datetime) -> str:
    """ISODateTime without fractions, in the museum's time zone with its offset."""
    return timezone.localtime(moment).replace(microsecond=0).isoformat()
