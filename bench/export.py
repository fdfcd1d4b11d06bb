"""The access bundle at scale: access_export_ms (run by bench/run.py, BENCH_ONLY=export).

    python bench/export.py seed   -> JSON: one person with BENCH_EXPORT_ORDERS paid orders
                                     (default 1,000, two tickets and one audit event each)
                                     among BENCH_EXPORT_OTHER_ORDERS other buyers' orders
                                     (default 200,000, one ticket each), created
    python bench/export.py run    -> JSON lines: access_export_ms (median of the access
                                     bundle for that person, rendered to JSON), and on
                                     stderr the plan of the orders query
    python bench/export.py        -> both (standalone, against DATABASE_URL: use a
                                     throw-away database)

The seed copies one template order inside PostgreSQL (INSERT ... SELECT over
generate_series, as bench/purge.py does). The other buyers are there so that a query that
cannot use an index (the person's address is matched case-insensitively: UPPER("email"))
costs what it would in production. The person's address is stored in mixed case
("Ada.Export@Bench.example") and looked up in lower case, as a request would.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDERS = int(os.environ.get("BENCH_EXPORT_ORDERS", "1000"))
OTHER_ORDERS = int(os.environ.get("BENCH_EXPORT_OTHER_ORDERS", "200000"))
PERSON = "Ada.Export@Bench.example"
CHUNK = 100_000
WARM_UP = 3
RUNS = 15
TARGETS = {"access_export_ms": ("<=", 200)}


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")
    import django

    django.setup()


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def seed() -> dict:
    """The person's ORDERS orders (two tickets, one audit event each) and OTHER_ORDERS others."""
    _django()
    import datetime as dt
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from museum.models import AuditEvent, Site
    from ticketing.models import Exhibition, Order, OrderBuyer, Ticket, TicketType, TimeSlot

    a_year_ago = timezone.now() - dt.timedelta(days=365)
    started = time.monotonic()
    with transaction.atomic():
        tag = uuid.uuid4().hex[:8]
        site = Site.objects.create(slug=f"bench-export-{tag}", name="Bench export site")
        exhibition = Exhibition.objects.create(site=site, slug=f"bench-export-{tag}", name="Bench")
        slot = TimeSlot.objects.create(
            exhibition=exhibition,
            site=site,
            starts_at=a_year_ago,
            ends_at=a_year_ago + dt.timedelta(hours=1),
            capacity=2 * ORDERS + OTHER_ORDERS + 10,
        )
        ticket_type = TicketType.objects.create(
            site=site,
            kind=TicketType.Kind.ADULT,
            name="Adult",
            price_cents=1400,
            vat_rate=Decimal("6.00"),
            max_per_order=10,
        )
        template = Order.objects.create(
            site=site,
            status=Order.Status.PAID,
            channel=Order.Channel.DESK,
            payment_method=Order.PaymentMethod.CASH,
            email="template@bench.example",
            name="Bench buyer",
            total_cents=1400,
        )
        ticket = Ticket.objects.create(
            order=template,
            time_slot=slot,
            ticket_type=ticket_type,
            price_cents=1400,
            vat_rate=ticket_type.vat_rate,
            status=Ticket.Status.VALID,
        )
        Order.objects.filter(pk=template.pk).update(created_at=a_year_ago, paid_at=a_year_ago)
    order_table, ticket_table = Order._meta.db_table, Ticket._meta.db_table
    buyer_table = OrderBuyer._meta.db_table
    audit_table = AuditEvent._meta.db_table
    order_columns = [f.column for f in Order._meta.concrete_fields if not f.primary_key]
    ticket_columns = [f.column for f in Ticket._meta.concrete_fields if not f.primary_key]
    ticket_overrides = {
        "public_id": "gen_random_uuid()",
        "secret": "md5('ticket' || o.id::text || '-' || n::text)",
        "order_id": "o.id",
    }
    ticket_select = ", ".join(ticket_overrides.get(c, f't."{c}"') for c in ticket_columns)

    def copies(*, low: int, high: int, email_sql: str, name_sql: str, tickets: int) -> None:
        """Orders ``low``..``high``, each with its buyer row (``email_sql`` and ``name_sql``
        in terms of the new order's ``o.id``) and ``tickets`` tickets."""
        overrides = {
            "code": f"'{tag[:3]}' || lpad(g::text, 9, '0')",
            "access_token": f"md5('{tag}' || g::text)",
        }
        order_select = ", ".join(overrides.get(c, f't."{c}"') for c in order_columns)
        with connection.cursor() as cursor:
            cursor.execute(  # table and column names come from the models
                f'WITH o AS (INSERT INTO "{order_table}" ({_names(order_columns)}) '  # noqa: S608
                f'SELECT {order_select} FROM "{order_table}" t, generate_series(%s, %s) g '
                f"WHERE t.id = %s RETURNING id), "
                f'b AS (INSERT INTO "{buyer_table}" (order_id, email, name, reseller_reference) '
                f"SELECT o.id, {email_sql}, {name_sql}, '' FROM o) "
                f'INSERT INTO "{ticket_table}" ({_names(ticket_columns)}) '
                f'SELECT {ticket_select} FROM "{ticket_table}" t, o, generate_series(1, %s) n '
                f"WHERE t.id = %s",
                [low, high, template.pk, tickets, ticket.pk],
            )

    # The other buyers first (codes 1..OTHER_ORDERS), then the person's orders.
    for low in range(1, OTHER_ORDERS + 1, CHUNK):
        with transaction.atomic():
            copies(
                low=low,
                high=min(OTHER_ORDERS, low + CHUNK - 1),
                email_sql="'buyer' || o.id::text || '@bench.example'",
                name_sql="'Buyer ' || o.id::text",
                tickets=1,
            )
    with transaction.atomic():
        copies(
            low=OTHER_ORDERS + 1,
            high=OTHER_ORDERS + ORDERS,
            email_sql=f"'{PERSON}'",
            name_sql="'Ada Export'",
            tickets=2,
        )
        with connection.cursor() as cursor:
            # What a paid web order leaves in the audit log: one event naming the order.
            cursor.execute(
                f'INSERT INTO "{audit_table}" (occurred_at, actor_label, action, subject_type, '  # noqa: S608
                f"subject_id, data) SELECT o.created_at, 'system', 'order.paid', "
                f"'ticketing.order', o.id::text, '{{}}'::jsonb "
                f'FROM "{order_table}" o JOIN "{buyer_table}" b ON b.order_id = o.id '
                f"WHERE b.email = %s",
                [PERSON],
            )
            cursor.execute(
                f'ANALYZE "{order_table}"; ANALYZE "{ticket_table}"; ANALYZE "{audit_table}"; '
                f'ANALYZE "{buyer_table}"'
            )
    return {
        "person_orders": Order.objects.filter(buyer__email=PERSON).count(),
        "person_tickets": Ticket.objects.filter(order__buyer__email=PERSON).count(),
        "orders": Order.objects.count(),
        "seed_s": round(time.monotonic() - started, 1),
    }


def run() -> list[dict]:
    """The median time of the person's access bundle, rendered to JSON, and diagnostics."""
    _django()
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from privacy.declarations import Person
    from privacy.registry import registry
    from privacy.selectors import person_rows
    from privacy.services import access_bundle

    email = PERSON.lower()

    def bundle_json() -> str:
        return json.dumps(access_bundle(email=email), cls=DjangoJSONEncoder)

    for _ in range(WARM_UP):
        text = bundle_json()
    bundle = json.loads(text)
    orders = bundle["sections"].get("ticketing.order", {}).get("rows", [])
    assert len(orders) == ORDERS, f"the bundle has {len(orders)} orders, not {ORDERS}"
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        bundle_json()
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        bundle_json()
    slowest = sorted(
        ((float(q["time"]) * 1000, q["sql"]) for q in queries.captured_queries), reverse=True
    )[:3]
    # The orders query's plan: does it read the whole table (UPPER("email") scan)?
    declaration = next(d for d in registry.declarations if d.key == "ticketing.order")
    queryset = person_rows(declaration, Person.of(email=email), within=registry)
    plan = queryset.values("pk").explain(analyze=True)
    print(f"[bench] export: orders query plan:\n{plan}", file=sys.stderr, flush=True)
    sql_ms = sum(float(q["time"]) * 1000 for q in queries.captured_queries)
    print(
        f"[bench] export: {len(queries)} queries, {sql_ms:.0f} ms in SQL (one run)",
        file=sys.stderr,
        flush=True,
    )
    for ms, sql in slowest:
        print(f"[bench] export: {ms:.1f} ms  {sql[:300]}", file=sys.stderr, flush=True)
    return [
        {"metric": "access_export_ms", "value": round(statistics.median(times), 1), "unit": "ms"},
        {"metric": "access_export_queries", "value": len(queries), "unit": "queries"},
        {"metric": "access_export_kb", "value": round(len(text) / 1024, 1), "unit": "KB"},
    ]


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "both"
    if command in ("seed", "both"):
        seeded = seed()
        if command == "seed":
            print(json.dumps(seeded), flush=True)
        else:
            print(f"[bench] export seed: {seeded}", file=sys.stderr, flush=True)
    if command in ("run", "both"):
        for row in run():
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
