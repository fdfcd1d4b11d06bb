"""Privacy middleware: first-party page counts, and the tracker's CSP after opt-in."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse

from privacy.stats import page_view_count, path_normalise

logger = logging.getLogger(__name__)

SKIPPED_PREFIXES = ("/admin/", "/static/", "/media/", "/api/", "/i18n/", "/favicon")
BOTS = re.compile(r"bot|crawl|spider|slurp|preview|monitor", re.IGNORECASE)


class PageViewMiddleware:
    """Counts each successful page view per normalised path and day (one write, no person).

    Only GET requests answered 200 with HTML are counted; the admin, static files and the
    API are not, nor self-declared bots. The user agent is read to skip bots, never stored.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self._counts(request, response):
            try:
                page_view_count(path=path_normalise(request))
            except DatabaseError:  # statistics never break a page
                logger.exception("Page view not counted")
        return response

    @staticmethod
    def _counts(request: HttpRequest, response: HttpResponse) -> bool:
        return (
            request.method == "GET"
            and response.status_code == 200
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(SKIPPED_PREFIXES)
            and not BOTS.search(request.META.get("HTTP_USER_AGENT", ""))
        )


class TrackerScriptCSPMiddleware:
    """Allows, in this response's CSP, the scripts of the trackers the visitor accepted.

    Must come after ``csp.middleware.CSPMiddleware`` in MIDDLEWARE (so it runs before it on
    the way out). Pages that did not render the trackers are left untouched.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        state = getattr(request, "_privacy_cookie_state", None)
        if state is not None and state.scripts:
            origins = sorted({_origin(t.script_url) for t in state.scripts})
            update = dict(getattr(response, "_csp_update", None) or {})
            update["script-src"] = list(update.get("script-src", [])) + origins
            response._csp_update = update  # type: ignore[attr-defined]
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
