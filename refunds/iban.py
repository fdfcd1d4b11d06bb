"""Bank details a buyer gives for a refund by bank transfer: cleaned and checked before use.

The checks are schwifty's (the IBAN registry of every country: length, structure, the
ISO 7064 checksum, the SEPA zone, the bank codes and their BICs), so that a typo is
caught while the buyer is still on the page, not weeks later when the bank bounces the
transfer.

The account holder's name is kept as the buyer typed it ("Åsa Öberg"), because that is
their name and what they see again. The SEPA file may only carry the SEPA Latin
character set, so ``refunds.sepa.sepa_latin`` transliterates it there ("Asa Oberg").
A name with a character that has no Latin transliteration (Cyrillic, Greek, CJK, emoji,
``@``, ``#``...) is refused here, with the characters named, so that an accepted name can
always be written to the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from schwifty import BIC, IBAN
from schwifty import exceptions as schwifty_errors

from refunds.sepa import HOLDER_MAX_LENGTH, SepaTextError, sepa_latin

__all__ = ["EEA_COUNTRIES", "BankDetails", "bank_details_clean"]

# The European Economic Area: within it a SEPA transfer needs only the IBAN. For the other
# SEPA countries (Switzerland, the United Kingdom, Monaco, San Marino, Andorra, the
# Vatican...) the EPC rulebook asks for the beneficiary bank's BIC too.
EEA_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
        "IS",
        "LI",
        "NO",
    ]
)


@dataclass(frozen=True)
class BankDetails:
    """Cleaned bank details: the holder as typed (spaces collapsed), the IBAN and the BIC
    in their compact upper-case form (the BIC may be empty)."""

    account_holder: str
    iban: str
    bic: str = ""

    @property
    def iban_formatted(self) -> str:
        """The IBAN in groups of four, as printed on a bank card."""
        return " ".join(self.iban[i : i + 4] for i in range(0, len(self.iban), 4))

    @property
    def holder_for_transfer(self) -> str:
        """The holder's name in the SEPA Latin character set, as the file carries it."""
        return sepa_latin(self.account_holder)


def _compact(value: str) -> str:
    return "".join((value or "").split()).replace("-", "").upper()


def bank_details_clean(*, account_holder: str, iban: str, bic: str = "") -> BankDetails:
    """Normalise and check the bank details a buyer typed; returns them cleaned.

    Spaces and dashes anywhere in the IBAN and BIC are dropped and letters upper-cased;
    runs of spaces in the holder's name become one. The IBAN must be valid (country,
    length, structure, checksum) and of a SEPA country; a BIC, when given or needed (a
    SEPA country outside the EEA), must be well-formed and, when schwifty knows the
    IBAN's bank, belong to that bank. No side effects.

    Raises: ValidationError with one translated message per field in error (keys
    ``account_holder``, ``iban``, ``bic``); every field is checked, so the buyer sees all
    their mistakes at once.
    """
    errors: dict[str, ValidationError] = {}
    holder = " ".join((account_holder or "").split())
    holder_error = _holder_error(holder)
    if holder_error is not None:
        errors["account_holder"] = holder_error

    iban_value = _compact(iban)
    bic_value = _compact(bic)
    parsed: IBAN | None = None
    try:
        parsed = _iban(iban_value)
    except ValidationError as error:
        errors["iban"] = error

    if bic_value:
        bic_error = _bic_error(bic_value, parsed)
        if bic_error is not None:
            errors["bic"] = bic_error
    elif parsed is not None and parsed.country_code not in EEA_COUNTRIES:
        known = parsed.bic
        if known is None:
            errors["bic"] = ValidationError(
                _(
                    "For a bank account in %(country)s the bank's BIC (SWIFT code) is "
                    "needed too. You find it on your bank statement."
                )
                % {"country": _country_name(parsed)},
                code="bic_required",
            )
        else:
            bic_value = str(known)

    if errors:
        raise ValidationError(errors)
    assert parsed is not None
    return BankDetails(account_holder=holder, iban=str(parsed), bic=bic_value)


def _holder_error(holder: str) -> ValidationError | None:
    if not holder:
        return ValidationError(
            _("Enter the name of the account holder, as the bank knows it."),
            code="holder_required",
        )
    if len(holder) > HOLDER_MAX_LENGTH:
        return ValidationError(
            _("The account holder's name can have at most %(max)s characters.")
            % {"max": HOLDER_MAX_LENGTH},
            code="holder_too_long",
        )
    try:
        latin = sepa_latin(holder)
    except SepaTextError as error:
        return ValidationError(
            _(
                "Bank transfers can only carry Latin letters, digits and simple punctuation. "
                "Write the account holder's name without these characters: %(chars)s"
            )
            % {"chars": " ".join(error.characters)},
            code="holder_charset",
        )
    if len(latin) > HOLDER_MAX_LENGTH:
        # Transliteration can lengthen a name (ß becomes ss).
        return ValidationError(
            _("The account holder's name can have at most %(max)s characters.")
            % {"max": HOLDER_MAX_LENGTH},
            code="holder_too_long",
        )
    if not any(ch.isalnum() for ch in latin):
        return ValidationError(
            _("Enter the name of the account holder, as the bank knows it."),
            code="holder_required",
        )
    return None


def _iban(value: str) -> IBAN:
    if not value:
        raise ValidationError(_("Enter the IBAN of the account."), code="iban_required")
    try:
        parsed = IBAN(value)
    except schwifty_errors.InvalidCountryCode:
        raise ValidationError(
            _(
                "An IBAN starts with the two letters of a country (BE, FR, NL...); "
                "“%(prefix)s” is not one."
            )
            % {"prefix": value[:2]},
            code="iban_country",
        ) from None
    except schwifty_errors.InvalidLength:
        spec_length = _expected_length(value)
        if spec_length is None:
            message = _("This IBAN does not have the right number of characters.")
        else:
            message = _(
                "An IBAN of this country has %(expected)s characters; this one has %(given)s. "
                "Check for a missing or extra character."
            ) % {"expected": spec_length, "given": len(value)}
        raise ValidationError(message, code="iban_length") from None
    except schwifty_errors.InvalidChecksumDigits:
        raise ValidationError(
            _(
                "This IBAN's check digits do not match: a character is probably mistyped. "
                "Please copy it again from your bank statement or card."
            ),
            code="iban_checksum",
        ) from None
    except schwifty_errors.SchwiftyException:
        raise ValidationError(
            _("This is not a valid IBAN for its country: please check each character."),
            code="iban_invalid",
        ) from None
    if not parsed.in_sepa_zone:
        raise ValidationError(
            _(
                "Refunds are paid by SEPA transfer, which only reaches accounts in the SEPA "
                "countries (the EU, the EEA, Switzerland, the United Kingdom and a few "
                "others); %(country)s is not one. Please give an account in one of them."
            )
            % {"country": _country_name(parsed)},
            code="iban_not_sepa",
        )
    return parsed


def _expected_length(value: str) -> int | None:
    try:
        return IBAN(value, allow_invalid=True).spec.iban_length
    except (schwifty_errors.SchwiftyException, KeyError):
        return None


def _country_name(parsed: IBAN) -> str:
    country = parsed.country
    return getattr(country, "name", None) or parsed.country_code


def _bic_error(value: str, parsed: IBAN | None) -> ValidationError | None:
    try:
        BIC(value)
    except schwifty_errors.SchwiftyException:
        return ValidationError(
            _("A BIC (SWIFT code) has 8 or 11 letters and digits, e.g. GEBABEBB."),
            code="bic_invalid",
        )
    if parsed is None:
        return None
    candidates = _bank_bics(parsed)
    # Bank (4) and country (2) identify the institution; location and branch vary.
    if candidates and value[:6] not in {str(c)[:6] for c in candidates}:
        return ValidationError(
            _(
                "This BIC belongs to another bank than the IBAN's (%(expected)s). Leave the "
                "BIC empty if you are unsure: the IBAN is enough."
            )
            % {"expected": ", ".join(sorted({str(c) for c in candidates}))},
            code="bic_mismatch",
        )
    return None


def _bank_bics(parsed: IBAN) -> list[BIC]:
    """The BICs schwifty's registry gives for the IBAN's bank; empty when it does not know."""
    try:
        return list(BIC.candidates_from_bank_code(parsed.country_code, parsed.bank_code))
    except (schwifty_errors.SchwiftyException, KeyError, ValueError):
        return []
