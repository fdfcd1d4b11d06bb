"""Bank details for a refund: real IBANs pass, typos and non-SEPA accounts are refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from refunds.iban import BankDetails, bank_details_clean
from refunds.sepa import SepaTextError, sepa_latin
from tests.refunds.factories import VALID_IBANS


def _codes(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


@pytest.mark.parametrize("country", sorted(VALID_IBANS))
def test_a_real_iban_of_each_country_is_accepted(country):
    details = bank_details_clean(account_holder="Ada Lovelace", iban=VALID_IBANS[country])

    assert details.iban == VALID_IBANS[country]
    assert details.account_holder == "Ada Lovelace"


def test_spaces_dashes_and_lower_case_are_normalised():
    details = bank_details_clean(
        account_holder="  Åsa   Öberg ",
        iban=" de89 3704-0044 0532 0130 00 ",
        bic=" cobadeff xxx",
    )

    assert details == BankDetails(
        account_holder="Åsa Öberg", iban="DE89370400440532013000", bic="COBADEFFXXX"
    )
    assert details.iban_formatted == "DE89 3704 0044 0532 0130 00"
    assert details.holder_for_transfer == "Asa Oberg"


@pytest.mark.parametrize(
    ("iban", "code"),
    [
        ("DE89370400440532013001", "iban_checksum"),  # last digit mistyped
        ("BE68539007547043", "iban_checksum"),  # two digits swapped
        ("NL91ABNA0417164301", "iban_checksum"),
        ("XX89370400440532013000", "iban_country"),
        ("DE8937040044053201300", "iban_length"),  # one digit missing
        ("FI21123456000007851", "iban_length"),  # one digit too many
        ("BR1800360305000010009795493C1", "iban_not_sepa"),  # Brazil
        ("TR330006100519786457841326", "iban_not_sepa"),  # Turkey
        ("", "iban_required"),
        ("DE89!70400440532013000", "iban_invalid"),
    ],
)
def test_a_wrong_iban_is_refused_with_its_reason(iban, code):
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada Lovelace", iban=iban)

    assert _codes(caught.value) == {"iban": [code]}


def test_the_length_message_names_the_expected_and_given_lengths():
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada Lovelace", iban="DE8937040044053201300")

    assert caught.value.error_dict["iban"][0].messages == [
        "An IBAN of this country has 22 characters; this one has 21. "
        "Check for a missing or extra character."
    ]


def test_a_bic_of_another_bank_is_refused():
    # DE89 3704 0044 is Commerzbank (COBADEFF); GENODEF1... is a Volksbank
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada Lovelace", iban=VALID_IBANS["DE"], bic="GENODEF1S12")

    assert _codes(caught.value) == {"bic": ["bic_mismatch"]}
    assert "COBADEFFXXX" in caught.value.error_dict["bic"][0].messages[0]


def test_a_branch_bic_of_the_right_bank_is_accepted():
    details = bank_details_clean(
        account_holder="Ada Lovelace", iban=VALID_IBANS["NL"], bic="ABNANL2AXXX"
    )

    assert details.bic == "ABNANL2AXXX"


@pytest.mark.parametrize("bic", ["GEBA", "GEBABEBBX", "GEBA12BB"])
def test_a_malformed_bic_is_refused(bic):
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada Lovelace", iban=VALID_IBANS["BE"], bic=bic)

    assert _codes(caught.value) == {"bic": ["bic_invalid"]}


def test_a_bic_is_optional_inside_the_eea():
    details = bank_details_clean(account_holder="Ada Lovelace", iban=VALID_IBANS["FR"])

    assert details.bic == ""


def test_outside_the_eea_a_known_bic_is_filled_in_and_an_unknown_one_is_asked_for():
    # the United Kingdom is in SEPA but not in the EEA: the EPC rulebook needs the BIC
    british = bank_details_clean(account_holder="Ada Lovelace", iban="GB29NWBK60161331926819")
    assert british.bic == "NWBKGB2LXXX"

    # schwifty does not know this Swiss bank's BIC: the buyer must give it
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada Lovelace", iban="CH9300762011623852957")
    assert _codes(caught.value) == {"bic": ["bic_required"]}

    swiss = bank_details_clean(
        account_holder="Ada Lovelace", iban="CH9300762011623852957", bic="POFICHBEXXX"
    )
    assert swiss.bic == "POFICHBEXXX"


@pytest.mark.parametrize(
    ("holder", "code"),
    [
        ("", "holder_required"),
        ("   ", "holder_required"),
        ("...", "holder_required"),
        ("A" * 71, "holder_too_long"),
        ("Stra" + "ß" * 34, "holder_too_long"),  # 38 typed, 72 once transliterated
        ("Иван Петров", "holder_charset"),
        ("Ada 🙂 Lovelace", "holder_charset"),
        ("ada@lovelace", "holder_charset"),
    ],
)
def test_a_wrong_holder_is_refused(holder, code):
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder=holder, iban=VALID_IBANS["BE"])

    assert _codes(caught.value) == {"account_holder": [code]}


def test_the_charset_message_names_the_refused_characters():
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="Ada 🙂 Lovelace @home", iban=VALID_IBANS["BE"])

    assert caught.value.error_dict["account_holder"][0].messages[0].endswith(": 🙂 @")


def test_every_field_in_error_is_reported_at_once():
    with pytest.raises(ValidationError) as caught:
        bank_details_clean(account_holder="", iban="DE89370400440532013001", bic="XX")

    assert _codes(caught.value) == {
        "account_holder": ["holder_required"],
        "iban": ["iban_checksum"],
        "bic": ["bic_invalid"],
    }


@pytest.mark.parametrize(
    ("typed", "written"),
    [
        ("Åsa Öberg", "Asa Oberg"),
        ("José Müller-Lüdenscheidt", "Jose Muller-Ludenscheidt"),
        ("Jürgen Straße", "Jurgen Strasse"),
        ("Søren Kierkegaard", "Soren Kierkegaard"),
        ("Łukasz Żółć", "Lukasz Zolc"),
        ("Smith & Jones Ltd.", "Smith + Jones Ltd."),
        ("O’Brien", "O'Brien"),
        ("Émilie  Du\tChâtelet", "Emilie Du Chatelet"),
    ],
)
def test_latin_names_are_transliterated_for_the_file(typed, written):
    assert sepa_latin(typed) == written


def test_a_name_without_latin_form_cannot_be_transliterated():
    with pytest.raises(SepaTextError) as caught:
        sepa_latin("Ελένη #1")

    assert caught.value.characters == ("Ε", "λ", "έ", "ν", "η", "#")
