"""The retention purge at scale: purge_rows_per_s and purge_peak_rss_mb (run by bench/run.py).

    python bench/purge.py seed N   -> JSON: N expired orders with one ticket each, created
    python bench/purge.py run      -> JSON: the nightly purge's report totals and its time
    python bench/purge.py          -> both, then the two metrics as JSON lines (standalone,
                                      against DATABASE_URL: use a throw-away database)

`seed` copies one template order, its buyer row and its ticket N times inside PostgreSQL
(INSERT ... SELECT over generate_series, in chunks of 100,000): every order was paid eight
years ago, three orders per buyer address, so that the buyers' last transaction is past the
five-year rule. Order codes and access tokens are random, as in production.

`measure` runs `run` in a child process, as the Celery worker would run the nightly task
(every rule, batches of 10,000), and reads the child's own peak resident memory from
os.wait4 (ru_maxrss): purge_peak_rss_mb. purge_rows_per_s is the rows deleted or
anonymised divided by the wall time of purge_run. Here those are the N orders' buyer rows
(ticketing.OrderBuyer: e-mail address, name, reseller reference), deleted: that is what
anonymising an order is since the buyer's details live apart from the accounting row. The
orders themselves are guest orders (no account to unlink), so their rows are not written;
their tickets hold no name and stay, as declared.

One million orders by default, as the issue asks (BENCH_PURGE_ROWS; seeding them takes
about 80 s, the purge a few seconds). History (docs/performance.md, "Retention purge"): while the buyer's
columns were on ticketing_order, the purge rewrote every order row and all 9 of its
indexes (no HOT update: the e-mail was indexed) and stayed at 19,000-37,000 rows/s on
1,000,000 orders whatever was tuned; with the details in their own narrow table it deletes
small rows instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "1000000"))
CHUNK = 100_000
ORDERS_PER_BUYER = 3
TARGETS = {"purge_rows_per_s": (">=", 50_000), "purge_peak_rss_mb": ("<=", 300)}


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")
    import django

    django.setup()


def seed(rows: int) -> dict:
    """Create ``rows`` paid orders of eight years ago, each with one valid ticket."""
    _django()
    import datetime as dt
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from museum.models import Site
    from ticketing.models import Exhibition, Order, OrderBuyer, Ticket, TicketType, TimeSlot

    long_ago = timezone.now() - dt.timedelta(days=8 * 366)
    with transaction.atomic():
        tag = uuid.uuid4().hex[:8]
        site = Site.objects.create(slug=f"bench-purge-{tag}", name="Bench purge site")
        exhibition = Exhibition.objects.create(site=site, slug=f"bench-purge-{tag}", name="Bench")
        slot = TimeSlot.objects.create(
            exhibition=exhibition,
            site=site,
            starts_at=long_ago,
            ends_at=long_ago + dt.timedelta(hours=1),
            capacity=rows + 1,
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
        Order.objects.filter(pk=template.pk).update(created_at=long_ago, paid_at=long_ago)
    buyers = max(1, rows // ORDERS_PER_BUYER)
    # Codes are random, as new_order_code makes them (12 hex characters here, so that a
    # million of them do not collide), and so are the access tokens.
    order_overrides = {
        "code": f"upper(substr(md5('{tag}' || g::text), 1, 12))",
        "access_token": f"md5('{tag}-token-' || g::text)",
    }
    ticket_overrides = {
        "public_id": "gen_random_uuid()",
        "secret": "md5('ticket' || o.id::text)",
        "order_id": "o.id",
    }
    order_table = Order._meta.db_table
    ticket_table = Ticket._meta.db_table
    buyer_table = OrderBuyer._meta.db_table
    order_columns = [f.column for f in Order._meta.concrete_fields if not f.primary_key]
    ticket_columns = [f.column for f in Ticket._meta.concrete_fields if not f.primary_key]
    started = time.monotonic()
    with connection.cursor() as cursor:
        for low in range(1, rows, CHUNK):
            high = min(rows - 1, low + CHUNK - 1)  # the template is the first order
            with transaction.atomic():
                order_select = ", ".join(order_overrides.get(c, f't."{c}"') for c in order_columns)
                ticket_select = ", ".join(
                    ticket_overrides.get(c, f't."{c}"') for c in ticket_columns
                )
                # One statement: the orders, their buyers (three orders per address), then
                # one ticket for each order just inserted.
                cursor.execute(  # table and column names come from the models
                    f'WITH o AS (INSERT INTO "{order_table}" ({_names(order_columns)}) '  # noqa: S608
                    f'SELECT {order_select} FROM "{order_table}" t, generate_series(%s, %s) g '
                    f"WHERE t.id = %s RETURNING id), "
                    f'b AS (INSERT INTO "{buyer_table}" (order_id, email, name, reseller_reference) '
                    f"SELECT o.id, 'buyer' || mod(o.id, {buyers})::text || '@bench.example', "
                    f"'Buyer ' || mod(o.id, {buyers})::text, '' FROM o) "
                    f'INSERT INTO "{ticket_table}" ({_names(ticket_columns)}) '
                    f'SELECT {ticket_select} FROM "{ticket_table}" t, o WHERE t.id = %s',
                    [low, high, template.pk, ticket.pk],
                )
        cursor.execute(
            f'ANALYZE "{order_table}"; ANALYZE "{ticket_table}"; ANALYZE "{buyer_table}"'
        )
    return {
        "orders": Order.objects.filter(site=site).count(),
        "tickets": Ticket.objects.filter(order__site=site).count(),
        "seed_s": round(time.monotonic() - started, 1),
    }


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def run() -> dict:
    """The nightly purge over every rule; the rows it changed and its wall time."""
    _django()
    from privacy.purge import purge_run

    started = time.monotonic()
    purge = purge_run(resume=False)
    elapsed = time.monotonic() - started
    changed = sum(e["deleted"] + e["anonymised"] for e in purge.report.values())
    return {
        "rows": changed,
        "orders_anonymised": purge.report["ticketing.order"]["anonymised"],
        "buyers_deleted": purge.report["ticketing.order:buyer"]["deleted"],
        "seconds": elapsed,
        "status": purge.status,
    }


def measure(env: dict[str, str] | None = None) -> dict[str, float]:
    """Run the purge in a child process; its rows per second and its own peak memory."""
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    output = child.stdout.read() if child.stdout else ""
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"bench/purge.py run exited with {child.returncode}")
    result = json.loads(output)
    # Linux reports ru_maxrss in kilobytes.
    return {
        "purge_rows_per_s": round(result["rows"] / result["seconds"], 1),
        "purge_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "purge_rows": result["rows"],
        "purge_seconds": round(result["seconds"], 2),
        "purge_orders_anonymised": result["orders_anonymised"],
        "purge_buyers_deleted": result["buyers_deleted"],
    }


def main() -> int:
    seeded = json.loads(
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "seed", str(ROWS)],
            cwd=ROOT,
            check=True,
            text=True,
            stdout=subprocess.PIPE,
        ).stdout
    )
    print(f"[bench] purge seed: {seeded}", file=sys.stderr, flush=True)
    result = measure()
    print(f"[bench] purge: {result}", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {"metric": "purge_rows_per_s", "value": result["purge_rows_per_s"], "unit": "rows/s"}
        )
    )
    print(
        json.dumps(
            {"metric": "purge_peak_rss_mb", "value": result["purge_peak_rss_mb"], "unit": "MB"}
        )
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "seed":
        print(json.dumps(seed(int(sys.argv[2]) if len(sys.argv) > 2 else ROWS)))
    elif len(sys.argv) >= 2 and sys.argv[1] == "run":
        print(json.dumps(run()))
    else:
        sys.exit(main())
