from decimal import Decimal

from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def euros(cents: int | None) -> str:
    """Format an amount in cents as euros in the active language, e.g. "€ 12,50"."""
    if cents is None:
        return ""
    return "€\u00a0" + number_format(Decimal(cents) / 100, decimal_pos=2, use_l10n=True)
