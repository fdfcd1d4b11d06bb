from modeltranslation.translator import TranslationOptions, register

from museum.models import Closure, Site


@register(Site)
class SiteTranslation(TranslationOptions):
    fields = ("name", "description")


@register(Closure)
class ClosureTranslation(TranslationOptions):
    fields = ("reason",)
