"""Load the demo museum: two sites, opening hours, a closure, exhibitions, prices, slots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from museum.models import Closure, OpeningHours, Site
from ticketing.models import Exhibition, SlotRule, TicketType
from ticketing.services.slots import time_slots_generate

DEMO_PASSWORD = "museum-demo-2026"  # noqa: S105  printed for the demo, refused in production

SITES = [
    {
        "slug": "main",
        "name": {
            "en": "Art & History Museum",
            "fr": "Musée d'Art et d'Histoire",
            "nl": "Museum voor Kunst en Geschiedenis",
            "fi": "Taide- ja historiamuseo",
            "sv": "Konst- och historiemuseet",
        },
        "address": "Parc du Cinquantenaire 10, 1000 Brussels",
        "daily_capacity": 900,
        "hours": [(wd, "10:00", "17:00") for wd in range(1, 7)],  # closed on Mondays
    },
    {
        "slug": "harbour",
        "name": {
            "en": "Harbour Warehouse",
            "fr": "Entrepôt du Port",
            "nl": "Havenpakhuis",
            "fi": "Satamavarasto",
            "sv": "Hamnmagasinet",
        },
        "address": "Kaai 2, 8400 Ostend",
        "daily_capacity": None,
        "hours": [(wd, "11:00", "18:00") for wd in range(2, 7)] + [(3, "18:00", "21:00")],
    },
]

EXHIBITIONS = [
    {
        "site": "main",
        "slug": "permanent-collection",
        "name": {
            "en": "Permanent collection",
            "fr": "Collection permanente",
            "nl": "Vaste collectie",
            "fi": "Pysyvä kokoelma",
            "sv": "Permanenta samlingen",
        },
        "description": {
            "en": "Five thousand years of art and history, from antiquity to art nouveau.",
            "fr": "Cinq mille ans d'art et d'histoire, de l'Antiquité à l'Art nouveau.",
            "nl": "Vijfduizend jaar kunst en geschiedenis, van de oudheid tot art nouveau.",
            "fi": "Viisituhatta vuotta taidetta ja historiaa antiikista jugendiin.",
            "sv": "Femtusen år av konst och historia, från antiken till jugend.",
        },
        "dates": None,
        "capacity": 40,
    },
    {
        "site": "main",
        "slug": "golden-age-tapestries",
        "name": {
            "en": "Tapestries of the Golden Age",
            "fr": "Tapisseries de l'âge d'or",
            "nl": "Wandtapijten uit de gouden eeuw",
            "fi": "Kultakauden kuvakudokset",
            "sv": "Guldålderns gobelänger",
        },
        "description": {
            "en": "Temporary exhibition: forty tapestries woven in Brussels, shown together for the first time.",
            "fr": "Exposition temporaire : quarante tapisseries tissées à Bruxelles, réunies pour la première fois.",
            "nl": "Tijdelijke tentoonstelling: veertig in Brussel geweven wandtapijten, voor het eerst samen.",
            "fi": "Tilapäisnäyttely: neljäkymmentä Brysselissä kudottua kuvakudosta ensimmäistä kertaa yhdessä.",
            "sv": "Tillfällig utställning: fyrtio gobelänger vävda i Bryssel, för första gången tillsammans.",
        },
        "dates": (0, 120),
        "capacity": 25,
    },
    {
        "site": "harbour",
        "slug": "harbour-stories",
        "name": {
            "en": "Harbour stories",
            "fr": "Histoires du port",
            "nl": "Havenverhalen",
            "fi": "Sataman tarinoita",
            "sv": "Hamnberättelser",
        },
        "description": {
            "en": "The permanent display of the harbour's people, ships and trade.",
            "fr": "La présentation permanente des gens, des navires et du commerce du port.",
            "nl": "De vaste opstelling over de mensen, schepen en handel van de haven.",
            "fi": "Pysyvä näyttely sataman ihmisistä, laivoista ja kaupasta.",
            "sv": "Den permanenta utställningen om hamnens människor, fartyg och handel.",
        },
        "dates": None,
        "capacity": 30,
    },
]

TICKET_TYPES = [
    (
        "adult",
        1400,
        {"en": "Adult", "fr": "Adulte", "nl": "Volwassene", "fi": "Aikuinen", "sv": "Vuxen"},
        "",
    ),
    (
        "reduced",
        1000,
        {"en": "Reduced", "fr": "Réduit", "nl": "Reductie", "fi": "Alennus", "sv": "Rabatt"},
        {
            "en": "Students, over 65, jobseekers",
            "fr": "Étudiants, plus de 65 ans, demandeurs d'emploi",
            "nl": "Studenten, 65-plussers, werkzoekenden",
            "fi": "Opiskelijat, yli 65-vuotiaat, työnhakijat",
            "sv": "Studenter, över 65, arbetssökande",
        },
    ),
    (
        "child",
        500,
        {"en": "Child", "fr": "Enfant", "nl": "Kind", "fi": "Lapsi", "sv": "Barn"},
        {
            "en": "6 to 17 years",
            "fr": "De 6 à 17 ans",
            "nl": "6 tot 17 jaar",
            "fi": "6–17-vuotiaat",
            "sv": "6 till 17 år",
        },
    ),
    (
        "free",
        0,
        {"en": "Free", "fr": "Gratuit", "nl": "Gratis", "fi": "Maksuton", "sv": "Gratis"},
        {
            "en": "Under 6, companions of disabled visitors",
            "fr": "Moins de 6 ans, accompagnateurs de visiteurs handicapés",
            "nl": "Onder 6, begeleiders van bezoekers met een beperking",
            "fi": "Alle 6-vuotiaat, vammaisten kävijöiden avustajat",
            "sv": "Under 6, ledsagare till besökare med funktionsnedsättning",
        },
    ),
    (
        "card",
        0,
        {
            "en": "Museum card holder",
            "fr": "Titulaire de la carte musées",
            "nl": "Museumkaarthouder",
            "fi": "Museokortin haltija",
            "sv": "Museikortsinnehavare",
        },
        {
            "en": "Free with your museum card: give its number below",
            "fr": "Gratuit avec votre carte musées : indiquez son numéro ci-dessous",
            "nl": "Gratis met uw museumkaart: vul hieronder het nummer in",
            "fi": "Maksuton museokortilla: anna kortin numero alla",
            "sv": "Gratis med ditt museikort: ange kortets nummer nedan",
        },
    ),
]


def _translated(obj, field: str, values: dict[str, str] | str) -> None:
    if isinstance(values, str):
        values = {"en": values}
    for code, _name in settings.LANGUAGES:
        setattr(obj, f"{field}_{code}", values.get(code, values.get("en", "")))
    setattr(obj, field, values.get("en", ""))


class Command(BaseCommand):
    help = "Load the demo museum (idempotent): sites, exhibitions, prices, 60 days of slots."

    def handle(self, *args, **options):
        if getattr(settings, "PRODUCTION", False):
            raise CommandError("Demo data is not loaded on a production deployment.")
        today = timezone.localdate()
        with transaction.atomic():
            sites = {}
            for position, spec in enumerate(SITES):
                site, _created = Site.objects.get_or_create(
                    slug=spec["slug"], defaults={"name": spec["name"]["en"]}
                )
                _translated(site, "name", spec["name"])
                site.address = spec["address"]
                site.daily_capacity = spec["daily_capacity"]
                site.position = position
                site.save()
                site.opening_hours.all().delete()
                for weekday, opens, closes in spec["hours"]:
                    OpeningHours.objects.create(
                        site=site, weekday=weekday, opens_at=opens, closes_at=closes
                    )
                sites[spec["slug"]] = site
            closure_day = today + dt.timedelta(days=(7 - today.weekday()) % 7 + 9)  # a Wednesday
            closure, _ = Closure.objects.get_or_create(
                site=sites["main"],
                starts_on=closure_day,
                ends_on=closure_day,
                defaults={"reason": "Staff training day"},
            )
            _translated(
                closure,
                "reason",
                {
                    "en": "Staff training day",
                    "fr": "Journée de formation du personnel",
                    "nl": "Opleidingsdag voor het personeel",
                    "fi": "Henkilökunnan koulutuspäivä",
                    "sv": "Utbildningsdag för personalen",
                },
            )
            closure.save()
            for position, spec in enumerate(EXHIBITIONS):
                exhibition, _ = Exhibition.objects.get_or_create(
                    slug=spec["slug"],
                    defaults={"site": sites[spec["site"]], "name": spec["name"]["en"]},
                )
                _translated(exhibition, "name", spec["name"])
                _translated(exhibition, "description", spec["description"])
                if spec["dates"]:
                    exhibition.starts_on = today + dt.timedelta(days=spec["dates"][0])
                    exhibition.ends_on = today + dt.timedelta(days=spec["dates"][1])
                exhibition.position = position
                exhibition.save()
                if not exhibition.slot_rules.exists():
                    SlotRule.objects.create(
                        exhibition=exhibition,
                        interval_minutes=30,
                        duration_minutes=30,
                        capacity=spec["capacity"],
                    )
            for site in sites.values():
                for position, (kind, price, names, description) in enumerate(TICKET_TYPES):
                    ticket_type, _ = TicketType.objects.get_or_create(
                        site=site,
                        kind=kind,
                        exhibition=None,
                        defaults={"name": names["en"], "price_cents": price},
                    )
                    _translated(ticket_type, "name", names)
                    _translated(ticket_type, "description", description or "")
                    ticket_type.price_cents = price
                    ticket_type.vat_rate = Decimal("6.00")
                    ticket_type.position = position
                    ticket_type.save()
            self._museum_card(sites)
            created = time_slots_generate(today=today, horizon_days=60)
            self._staff()
        self.stdout.write(self.style.SUCCESS(f"Demo museum ready ({created} new time slots)."))

    @staticmethod
    def _museum_card(sites: dict[str, Site]) -> None:
        """The annual museum card; the harbour site refuses a card's first visit (demo)."""
        from accounts.models import CardProduct

        product = CardProduct.objects.filter(name_en="Museum card").first() or CardProduct(
            price_cents=6900
        )
        _translated(
            product,
            "name",
            {
                "en": "Museum card",
                "fr": "Carte musées",
                "nl": "Museumkaart",
                "fi": "Museokortti",
                "sv": "Museikort",
            },
        )
        _translated(
            product,
            "description",
            {
                "en": "Personal annual card: every site, as often as you like, for 12 months "
                "from your first visit.",
                "fr": "Carte annuelle personnelle : tous les sites, aussi souvent que vous le "
                "voulez, pendant 12 mois à partir de votre première visite.",
                "nl": "Persoonlijke jaarkaart: alle locaties, zo vaak u wilt, 12 maanden lang "
                "vanaf uw eerste bezoek.",
                "fi": "Henkilökohtainen vuosikortti: kaikki kohteet niin usein kuin haluat, "
                "12 kuukautta ensimmäisestä käynnistä.",
                "sv": "Personligt årskort: alla platser, så ofta du vill, i 12 månader från "
                "ditt första besök.",
            },
        )
        product.price_cents = 6900
        product.vat_rate = Decimal("6.00")
        product.validity_months = 12
        product.is_active = True
        product.save()
        sites["harbour"].card_activation_allowed = False
        sites["harbour"].save(update_fields=["card_activation_allowed", "updated_at"])

    def _staff(self) -> None:
        User = get_user_model()
        accounts = [
            ("admin@museum.example", "Ada", "Admin", None, True),
            ("desk@museum.example", "Dirk", "Desk", "Front desk", False),
            ("manager@museum.example", "Mona", "Manager", "Manager", False),
        ]
        for email, first, last, group_name, superuser in accounts:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email, password=DEMO_PASSWORD, first_name=first, last_name=last
                )
            user.is_staff = True
            user.is_superuser = superuser
            user.save()
            if group_name:
                user.groups.add(Group.objects.get(name=group_name))
            self._verified(user)

    @staticmethod
    def _verified(user) -> None:
        from allauth.account.models import EmailAddress

        EmailAddress.objects.update_or_create(
            user=user, email=user.email, defaults={"verified": True, "primary": True}
        )
