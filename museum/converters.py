"""URL converters shared by the apps."""

from __future__ import annotations


class SecretTokenConverter:
    """A secret link's token as ``secrets.token_urlsafe`` makes it: URL-safe base64.

    Anything else (a NUL byte, spaces, punctuation) does not match the URL and is
    answered 404 before any lookup reaches the database; the views refuse a token of the
    right alphabet but the wrong length with their own "link not valid" page.
    """

    regex = "[A-Za-z0-9_-]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
