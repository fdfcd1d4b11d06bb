"""The SEPA credit-transfer file validates against the official pain.001 XML schemas.

The schemas are the ISO 20022 XSDs shipped by the ``sepaxml`` package (a test
dependency); they are loaded from its installed files, never written by hand.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
from decimal import Decimal

import pytest
from lxml import etree

from refunds.sepa import (
    NAMESPACES,
    Debtor,
    Transfer,
    amount_text,
    end_to_end_id,
    new_message_id,
    pain001_build,
)
from tests.refunds.factories import VALID_IBANS

CREATED = dt.datetime(2026, 3, 2, 14, 5, 9, 123456, tzinfo=dt.UTC)
DEBTOR = Debtor(name="Musées royaux d'Art et d'Histoire", iban=VALID_IBANS["BE"], bic="GKCCBEBB")


def _schema(version: str) -> etree.XMLSchema:
    path = importlib.resources.files("sepaxml") / "schemas" / f"pain.001.001.{version}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


def _transfers() -> list[Transfer]:
    return [
        Transfer(
            end_to_end_id=end_to_end_id(order_code="K7QX2M", refund_pk=41),
            amount_cents=2800,
            creditor_name="Åsa Öberg",
            creditor_iban=VALID_IBANS["SE"],
            remittance="Refund order K7QX2M",
        ),
        Transfer(
            end_to_end_id=end_to_end_id(order_code="B9TT4P", refund_pk=42),
            amount_cents=1405,
            creditor_name="Jürgen Straße & Söhne",
            creditor_iban=VALID_IBANS["DE"],
            creditor_bic="COBADEFFXXX",
            remittance="Refund order B9TT4P",
        ),
        Transfer(
            end_to_end_id=end_to_end_id(order_code="ZZ3ABC", refund_pk=43),
            amount_cents=5,
            creditor_name="Émilie du Châtelet",
            creditor_iban=VALID_IBANS["FR"],
            remittance="Refund order ZZ3ABC",
        ),
    ]


def _build(version: str = "03", **overrides) -> bytes:
    values = {
        "message_id": "REFUNDS-20260302150509-0A1B2C3D",
        "created_at": CREATED,
        "execution_date": dt.date(2026, 3, 3),
        "debtor": DEBTOR,
        "transfers": _transfers(),
        "version": version,
    }
    values.update(overrides)
    return pain001_build(**values)


@pytest.mark.parametrize("version", ["03", "09"])
def test_the_file_validates_against_the_official_schema(version):
    document = etree.fromstring(_build(version))

    schema = _schema(version)
    assert schema.validate(document), schema.error_log


def test_a_file_without_the_debtor_bic_validates_too():
    document = etree.fromstring(_build(debtor=Debtor(name="Museum", iban=VALID_IBANS["NL"])))

    schema = _schema("03")
    assert schema.validate(document), schema.error_log
    ns = {"p": NAMESPACES["03"]}
    assert document.findtext(
        "p:CstmrCdtTrfInitn/p:PmtInf/p:DbtrAgt//p:Othr/p:Id", namespaces=ns
    ) == ("NOTPROVIDED")


@pytest.mark.parametrize(
    "break_it",
    [
        # an element the schema does not know
        lambda doc, ns: doc.find(".//p:GrpHdr", ns).append(etree.Element(f"{{{ns['p']}}}Foo")),
        # a creditor IBAN written with spaces
        lambda doc, ns: setattr(doc.find(".//p:CdtrAcct//p:IBAN", ns), "text", "SE45 5000 0000"),
        # a mandatory element removed
        lambda doc, ns: doc.find(".//p:GrpHdr", ns).remove(doc.find(".//p:MsgId", ns)),
    ],
    ids=["unknown element", "IBAN with spaces", "no MsgId"],
)
def test_a_broken_file_fails_the_schema(break_it):
    # given a valid file, then broken in one place
    document = etree.fromstring(_build())
    schema = _schema("03")
    assert schema.validate(document)
    break_it(document, {"p": NAMESPACES["03"]})

    # then the schema check fails
    assert not schema.validate(document)


def test_the_file_carries_the_header_totals_and_each_transfer():
    ns = {"p": NAMESPACES["03"]}
    root = etree.fromstring(_build())
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", ns)
    payment = root.find("p:CstmrCdtTrfInitn/p:PmtInf", ns)

    assert header.findtext("p:MsgId", namespaces=ns) == "REFUNDS-20260302150509-0A1B2C3D"
    assert header.findtext("p:CreDtTm", namespaces=ns) == "2026-03-02T15:05:09+01:00"
    assert header.findtext("p:NbOfTxs", namespaces=ns) == "3"
    assert header.findtext("p:CtrlSum", namespaces=ns) == "42.10"
    assert header.findtext("p:InitgPty/p:Nm", namespaces=ns) == "Musees royaux d'Art et d'Histoire"
    assert payment.findtext("p:ReqdExctnDt", namespaces=ns) == "2026-03-03"
    assert payment.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=ns) == VALID_IBANS["BE"]
    assert payment.findtext("p:DbtrAgt/p:FinInstnId/p:BIC", namespaces=ns) == "GKCCBEBB"
    assert payment.findtext("p:PmtTpInf/p:SvcLvl/p:Cd", namespaces=ns) == "SEPA"
    rows = [
        (
            tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns),
            tx.find("p:Amt/p:InstdAmt", ns).text,
            tx.find("p:Amt/p:InstdAmt", ns).get("Ccy"),
            tx.findtext("p:CdtrAgt/p:FinInstnId/p:BIC", namespaces=ns),
            tx.findtext("p:Cdtr/p:Nm", namespaces=ns),
            tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=ns),
            tx.findtext("p:RmtInf/p:Ustrd", namespaces=ns),
        )
        for tx in payment.findall("p:CdtTrfTxInf", ns)
    ]
    assert rows == [
        (
            "RK7QX2M-41",
            "28.00",
            "EUR",
            None,
            "Asa Oberg",
            VALID_IBANS["SE"],
            "Refund order K7QX2M",
        ),
        (
            "RB9TT4P-42",
            "14.05",
            "EUR",
            "COBADEFFXXX",
            "Jurgen Strasse + Sohne",
            VALID_IBANS["DE"],
            "Refund order B9TT4P",
        ),
        (
            "RZZ3ABC-43",
            "0.05",
            "EUR",
            None,
            "Emilie du Chatelet",
            VALID_IBANS["FR"],
            "Refund order ZZ3ABC",
        ),
    ]


def test_the_file_is_utf8_with_a_declaration():
    raw = _build()

    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns=')


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"transfers": []}, "at least one transfer"),
        ({"version": "02"}, "Unknown pain.001 version"),
        (
            {
                "transfers": [
                    Transfer(
                        end_to_end_id="R1-1",
                        amount_cents=0,
                        creditor_name="Ada",
                        creditor_iban=VALID_IBANS["BE"],
                        remittance="x",
                    )
                ]
            },
            "positive amount",
        ),
    ],
)
def test_a_file_that_cannot_be_paid_is_not_written(overrides, message):
    with pytest.raises(ValueError, match=message):
        _build(**overrides)


def test_ids_and_amounts():
    assert amount_text(1) == "0.01"
    assert amount_text(123456) == "1234.56"
    assert Decimal(amount_text(2800)) == Decimal("28")
    assert end_to_end_id(order_code="ABCDEFGHJKLM", refund_pk=10**20) == (
        "RABCDEFGHJKLM-100000000000000000000"
    )
    assert len(end_to_end_id(order_code="ABCDEFGHJKLM", refund_pk=10**30)) == 35
    message_id = new_message_id(CREATED)
    assert message_id.startswith("REFUNDS-20260302150509-")
    assert len(message_id) <= 35
    assert new_message_id(CREATED) != message_id
