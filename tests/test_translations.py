"""The French, Dutch, Finnish and Swedish catalogues: complete, consistent, compiled, in use.

The .po files are read with a small parser (polib is not a project dependency); the
compiled .mo files are read with the standard library's ``gettext``.
"""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

LANGUAGES = ["fr", "nl", "fi", "sv"]
PLURAL_FORMS = {
    "fr": "nplurals=2; plural=(n > 1);",
    "nl": "nplurals=2; plural=(n != 1);",
    "fi": "nplurals=2; plural=(n != 1);",
    "sv": "nplurals=2; plural=(n != 1);",
}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|\{[a-z_]+\}")
HTML_TAG = re.compile(r"<[^>]+>")


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def _parse_po(path: Path) -> list[Entry]:
    """The active (not obsolete) entries of a .po file, header included as msgid ""."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int | None] | None = None

    def append(text: str) -> None:
        assert current is not None and target is not None
        name, index = target
        if name == "msgstr":
            current.msgstr[index or 0] = current.msgstr.get(index or 0, "") + text
        else:
            setattr(current, name, (getattr(current, name) or "") + text)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#"):
            if current is not None and current.msgstr:
                entries.append(current)
                current = None
            if line.startswith("#,"):
                current = current or Entry()
                current.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        keyword, _sep, rest = line.partition(" ")
        if line.startswith('"'):
            append(ast.literal_eval(line))
            continue
        if keyword in ("msgctxt", "msgid") and current is not None and current.msgstr:
            entries.append(current)
            current = None
        current = current or Entry()
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if match:
            target = ("msgstr", int(match.group(1)))
        elif keyword in ("msgid", "msgid_plural", "msgctxt", "msgstr"):
            target = (keyword, None)
        else:
            raise AssertionError(f"{path}: cannot parse line {raw!r}")
        if keyword == "msgstr" or match:
            current.msgstr.setdefault(target[1] or 0, "")
        append(ast.literal_eval(rest))
    if current is not None:
        entries.append(current)
    return entries


def _po_path(lang: str) -> Path:
    return Path(settings.BASE_DIR) / "locale" / lang / "LC_MESSAGES" / "django.po"


def _messages(lang: str) -> list[Entry]:
    return [e for e in _parse_po(_po_path(lang)) if e.msgid]


def _header(lang: str) -> dict[str, str]:
    header = next(e for e in _parse_po(_po_path(lang)) if e.msgid == "")
    return dict(line.split(": ", 1) for line in header.msgstr[0].splitlines() if ": " in line)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_is_translated_and_none_is_fuzzy(lang):
    # given the catalogue of one language
    messages = _messages(lang)

    # then it holds the shop's messages, each translated, none waiting for review
    assert len(messages) > 100
    empty = [e.msgid for e in messages if not all(e.msgstr.values())]
    fuzzy = [e.msgid for e in messages if "fuzzy" in e.flags]
    assert empty == []
    assert fuzzy == []
    plurals = [e for e in messages if e.msgid_plural]
    assert plurals
    assert all(sorted(e.msgstr) == [0, 1] for e in plurals)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_header_names_the_language_and_its_plural_rule(lang):
    # given the header of one catalogue
    header = _header(lang)

    # then it names the language and the plural rule of that language
    assert header["Language"] == lang
    assert header["Plural-Forms"] == PLURAL_FORMS[lang]
    assert header["Content-Type"] == "text/plain; charset=UTF-8"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_every_placeholder(lang):
    # given every message of one catalogue
    mismatches = []
    for entry in _messages(lang):
        sources = [entry.msgid] if entry.msgid_plural is None else [entry.msgid, entry.msgid_plural]
        for index, text in entry.msgstr.items():
            source = sources[min(index, len(sources) - 1)]
            if sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(text)):
                mismatches.append((entry.msgid, text))

    # then no translation lost, added or renamed a placeholder
    assert mismatches == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_html_markup(lang):
    # given every message of one catalogue
    mismatches = []
    for entry in _messages(lang):
        tags = sorted(HTML_TAG.findall(entry.msgid))
        mismatches += [
            (entry.msgid, text)
            for text in entry.msgstr.values()
            if sorted(HTML_TAG.findall(text)) != tags
        ]

    # then every tag and attribute (links, their targets) is carried over unchanged
    assert mismatches == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_compiled_catalogue_matches_the_po_file(lang):
    # given the committed .mo file next to the .po file
    mo_path = _po_path(lang).with_suffix(".mo")
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    # then every message of the .po file is compiled with the same translation
    stale = []
    for entry in _messages(lang):
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            if compiled._catalog.get(key) != entry.msgstr[0]:
                stale.append(entry.msgid)
        elif any(compiled._catalog.get((key, i)) != text for i, text in entry.msgstr.items()):
            stale.append(entry.msgid)
    assert stale == []


EXPECTED = {
    "fr": {
        "Book your visit": "Réservez votre visite",
        "Continue": "Continuer",
        "Sold out": "Complet",
        "subject": "Vos billets – commande AB12CD",
        "one_left": "1 place restante",
        "three_left": "3 places restantes",
    },
    "nl": {
        "Book your visit": "Boek uw bezoek",
        "Continue": "Doorgaan",
        "Sold out": "Uitverkocht",
        "subject": "Uw tickets – bestelling AB12CD",
        "one_left": "nog 1 plaats",
        "three_left": "nog 3 plaatsen",
    },
    "fi": {
        "Book your visit": "Varaa käyntisi",
        "Continue": "Jatka",
        "Sold out": "Loppuunmyyty",
        "subject": "Lippusi – tilaus AB12CD",
        "one_left": "1 paikka jäljellä",
        "three_left": "3 paikkaa jäljellä",
    },
    "sv": {
        "Book your visit": "Boka ditt besök",
        "Continue": "Fortsätt",
        "Sold out": "Slutsålt",
        "subject": "Dina biljetter – beställning AB12CD",
        "one_left": "1 plats kvar",
        "three_left": "3 platser kvar",
    },
}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_shop_strings_are_served_in_the_active_language(lang):
    # given the active language
    with translation.override(lang):
        # when the shop's strings are looked up
        book = _("Book your visit")
        proceed = _("Continue")
        sold_out = _("Sold out")
        subject = _("Your tickets – order %(code)s") % {"code": "AB12CD"}
        one_left = ngettext("%(n)s place left", "%(n)s places left", 1) % {"n": 1}
        three_left = ngettext("%(n)s place left", "%(n)s places left", 3) % {"n": 3}

    # then they come back in that language, with the right plural form
    expected = EXPECTED[lang]
    assert book == expected["Book your visit"]
    assert proceed == expected["Continue"]
    assert sold_out == expected["Sold out"]
    assert subject == expected["subject"]
    assert one_left == expected["one_left"]
    assert three_left == expected["three_left"]


def test_french_uses_the_singular_for_zero():
    # given French, where 0 takes the singular
    with translation.override("fr"):
        # when zero places are left
        text = ngettext("%(n)s place left", "%(n)s places left", 0) % {"n": 0}

    # then the singular form is used
    assert text == "0 place restante"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_follows_the_accept_language_header(client, db, lang):
    # given a visitor whose browser asks for one language
    # when they open the home page
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=f"{lang},en;q=0.5")

    # then the page is in that language
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{EXPECTED[lang]['Book your visit']}</h1>" in html
    assert "<h1>Book your visit</h1>" not in html


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_page_follows_the_language_cookie(client, db, lang):
    # given a visitor who chose a language with the switcher (stored in the cookie)
    # while their browser asks for English
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = lang

    # when they open the home page
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    # then the cookie wins
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{EXPECTED[lang]['Book your visit']}</h1>" in html


def test_home_page_stays_english_without_a_preference(client, db):
    # given a visitor whose browser asks for English
    # when they open the home page
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en")

    # then the page is in English, the source language
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "<h1>Book your visit</h1>" in html
