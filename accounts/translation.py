from modeltranslation.translator import TranslationOptions, register

from accounts.models import CardProduct


@register(CardProduct)
class CardProductTranslation(TranslationOptions):
    fields = ("name", "description")
