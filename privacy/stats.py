"""First-party visit statistics: views per page and day, without any data about visitors.

The path is normalised before it is stored (no query string; every URL parameter, such
as an order token or an id, becomes ``*``), and nothing else about the request is kept:
no IP address, no browser, no account.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from privacy.models import PageViewDay

PATH_MAX = 200
ROUTE_PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
# Parameters that name public content (an exhibition), kept so that managers see which.
PUBLIC_PARAMETERS = {("slug", "slug")}
# For paths without a route: any segment with a digit, or a long token-like one.
IDENTIFIER = re.compile(r"^(?=.*\d)[\w.:~-]+$|^[\w-]{20,}$")


def path_normalise(request: HttpRequest) -> str:
    """The page's path with every identifying part replaced by ``*``, without the query.

    Uses the matched URL pattern when there is one (``order/<str:token>/`` gives
    ``/order/*/``; an exhibition's slug is kept); otherwise replaces segments that look
    like ids or tokens.
    """
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", "") or ""
    if route and not route.startswith("^") and "(?P" not in route:
        kwargs = match.kwargs if match is not None else {}

        def replace(parameter: re.Match) -> str:
            key = (parameter["converter"] or "str", parameter["name"])
            value = kwargs.get(parameter["name"])
            return str(value) if key in PUBLIC_PARAMETERS and value else "*"

        path = "/" + ROUTE_PARAMETER.sub(replace, route).lstrip("/")
    else:
        segments = request.path.split("/")
        path = "/".join("*" if IDENTIFIER.match(s) else s for s in segments)
    return path[:PATH_MAX]


def page_view_count(*, path: str, day: dt.date | None = None) -> None:
    """Add one view of ``path`` on ``day`` (today, local time).

    Side effects: one INSERT … ON CONFLICT DO UPDATE on PageViewDay (a single query,
    safe under concurrent requests).
    """
    table = PageViewDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (path, day, count) VALUES (%s, %s, 1) "  # noqa: S608
            f"ON CONFLICT (path, day) DO UPDATE SET count = {table}.count + 1",
            [path[:PATH_MAX], day or timezone.localdate()],
        )


@dataclass(frozen=True)
class VisitTable:
    """Pages (most viewed first) × days (oldest first), with the counts and totals."""

    days: list[dt.date]
    rows: list[tuple[str, list[int], int]]
    day_totals: list[int]


def page_views_table(
    *, days: int = 30, today: dt.date | None = None, pages: int = 200
) -> VisitTable:
    """The views of the last ``days`` days per page and day, in one query."""
    today = today or timezone.localdate()
    first = today - dt.timedelta(days=days - 1)
    columns = [first + dt.timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(columns)}
    counts: dict[str, list[int]] = {}
    for path, day, count in PageViewDay.objects.filter(day__gte=first, day__lte=today).values_list(
        "path", "day", "count"
    ):
        counts.setdefault(path, [0] * days)[index[day]] += count
    rows = sorted(((p, c, sum(c)) for p, c in counts.items()), key=lambda r: (-r[2], r[0]))
    rows = rows[:pages]
    totals = [sum(r[1][i] for r in rows) for i in range(days)]
    return VisitTable(days=columns, rows=rows, day_totals=totals)
