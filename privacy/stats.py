"""First-party visit statistics: views per page and day, without any data about visitors.

The path is normalised before it is stored (no query string; every URL parameter, such
as an order token or an id, becomes ``*``), and nothing else about the request is kept:
no IP address, no browser, no account.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
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


def _buffer_prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'museum')}:pageviews:"


def _upsert(path: str, day: dt.date, count: int) -> None:
    table = PageViewDay._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (path, day, count) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT (path, day) DO UPDATE SET count = {table}.count + EXCLUDED.count",
            [path[:PATH_MAX], day, count],
        )


def page_view_count(*, path: str, day: dt.date | None = None) -> None:
    """Add one view of ``path`` on ``day`` (today, local time).

    With PRIVACY_PAGE_VIEWS_BUFFERED (production with Redis) the view is one HINCRBY in
    Redis, written to the database by ``page_views_flush`` every minute, so a busy page
    costs no database write; otherwise one INSERT … ON CONFLICT DO UPDATE on PageViewDay.
    """
    day = day or timezone.localdate()
    if settings.PRIVACY_PAGE_VIEWS_BUFFERED:
        from django_redis import get_redis_connection

        get_redis_connection("default").hincrby(_buffer_prefix() + day.isoformat(), path[:PATH_MAX])
        return
    _upsert(path, day, 1)


def page_views_flush() -> int:
    """Move the page views counted in Redis into PageViewDay; returns the rows written.

    Each day's counter is renamed before it is read, so views counted meanwhile go to a
    fresh counter and none is counted twice. Side effects: PageViewDay upserts.
    """
    if not settings.PRIVACY_PAGE_VIEWS_BUFFERED:
        return 0
    from django_redis import get_redis_connection
    from redis.exceptions import ResponseError

    redis = get_redis_connection("default")
    prefix = _buffer_prefix()
    written = 0
    for key in list(redis.scan_iter(match=prefix + "*")):
        name = key.decode() if isinstance(key, bytes) else key
        day = dt.date.fromisoformat(name[len(prefix) :])
        taken = f"{prefix[:-1]}-flushing:{day.isoformat()}:{timezone.now().timestamp()}"
        try:
            redis.rename(name, taken)
        except ResponseError:  # another flush took it first
            continue
        counts = redis.hgetall(taken)
        with transaction.atomic():
            for path, count in counts.items():
                _upsert(path.decode() if isinstance(path, bytes) else path, day, int(count))
        redis.delete(taken)
        written += len(counts)
    return written


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
