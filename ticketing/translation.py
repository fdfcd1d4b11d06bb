from modeltranslation.translator import TranslationOptions, register

from ticketing.models import Exhibition, TicketType


@register(Exhibition)
class ExhibitionTranslation(TranslationOptions):
    fields = ("name", "description")


@register(TicketType)
class TicketTypeTranslation(TranslationOptions):
    fields = ("name", "description")
