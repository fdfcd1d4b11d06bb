"""Which fields may hold personal data, and which of those nobody has declared.

The heuristic is deliberately wide: a field is suspect by its type (an e-mail or IP
address, a file, free text, a JSON document, a link to an account) or by its name
(``holder_name``, ``postal_address``, ``gift_greeting``...). A suspect field must be
declared, either as personal data (``register``) or with a reason why it is not
(``not_personal``). Translations of a field (modeltranslation's ``name_fr``) are covered
by the declaration of the field they translate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.db import models

from privacy.registry import PrivacyRegistry

SUSPECT_NAME = re.compile(
    r"name|phone|mobile|address|birth|iban|mail|greeting|note|comment|message|body|reason"
    r"|text|description|holder|recipient|gender|passport|identity|photo|avatar"
    r"|(^|_)(ip|bic)(_|$)"
)
SUSPECT_TYPES: tuple[type[models.Field], ...] = (
    models.EmailField,
    models.GenericIPAddressField,
    models.FileField,  # ImageField too
    models.TextField,
    models.JSONField,
    models.BinaryField,
)


def base_field_name(model_field: models.Field | models.ForeignObjectRel) -> str:
    """The name a declaration uses: ``name`` for modeltranslation's ``name_fr``."""
    original = getattr(model_field, "translated_field", None)
    return original.name if original is not None else model_field.name


def is_suspect(model_field: models.Field | models.ForeignObjectRel) -> bool:
    """True when ``model_field`` may hold personal data and must therefore be declared."""
    if not getattr(model_field, "concrete", False):
        return False
    if isinstance(model_field, SUSPECT_TYPES):
        return True
    related = getattr(model_field, "related_model", None)
    if related is not None and related._meta.label_lower == settings.AUTH_USER_MODEL.lower():
        return True
    return bool(SUSPECT_NAME.search(model_field.name.lower()))


def undeclared_fields(
    within: PrivacyRegistry, models_to_check: Iterable[type[models.Model]]
) -> list[str]:
    """``app_label.Model.field`` of every suspect field that no declaration covers, sorted."""
    covered = within.covered_fields()
    missing = set()
    for model in models_to_check:
        declared = covered.get(model._meta.label_lower, set())
        for model_field in model._meta.get_fields():
            if is_suspect(model_field) and base_field_name(model_field) not in declared:
                missing.add(f"{model._meta.label}.{base_field_name(model_field)}")
    return sorted(missing)
