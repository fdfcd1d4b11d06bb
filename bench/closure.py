"""A site closure at scale: closure_orders_per_s and closure_peak_rss_mb (run by bench/run.py).

    python bench/closure.py seed [N]  -> JSON: N paid orders on one site over three days
    python bench/closure.py run       -> JSON: the campaign started and processed, timed
    python bench/closure.py           -> both, then the metrics as JSON lines (standalone,
                                         against DATABASE_URL: use a throw-away database)

`seed` builds, with bulk_create, N paid orders (default 10,000) on 24 slots of one new site
over three days a month ahead: 40 % web shop paid by card through Stripe and 20 % through
the demo provider (each with its succeeded Payment row), 35 % desk cash, 5 % a reseller's
invoice; one to three tickets each; buyers' languages spread over the five of the shop.

`run` does what the manager and the worker do: campaign_start (a whole-site closure of
those three days), then refunds.services.campaigns.campaign_process in a loop until it
returns False, as the Celery task chains it. Celery messages are not sent: the tasks the
run queues (the next chunk, e-mails, Stripe refunds, reseller webhooks) are counted
instead, so that nothing reaches a broker or a worker of the rest of the bench.
closure_orders_per_s is the orders processed divided by the wall time of start +
processing; the refunds, e-mails (outbox rows) and seats returned are counted from the
database afterwards.

`measure` runs `run` in a child process and reads the child's own peak resident memory
from os.wait4 (ru_maxrss): closure_peak_rss_mb. `BENCH_CLOSURE_PROFILE=1` adds, to the
run's JSON, the number of SQL statements and their time grouped by statement kind and
table (connection.execute_wrapper; it slows the run a little).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = int(os.environ.get("BENCH_CLOSURE_ORDERS", "10000"))
DAYS = 3
SLOTS_PER_DAY = 8
TARGETS = {"closure_orders_per_s": (">=", 200), "closure_peak_rss_mb": ("<=", 300)}
STATE = {"reason": "bench closure: a burst water pipe"}


def _django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")
    import django

    django.setup()


def seed(rows: int) -> dict:
    """Create ``rows`` paid orders with their tickets (and payments) on one new site."""
    _django()
    import datetime as dt
    import random
    import uuid
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from museum.models import Site
    from ticketing.models import (
        Exhibition,
        Order,
        OrderBuyer,
        Payment,
        Ticket,
        TicketType,
        TimeSlot,
    )
    from ticketing.services.resellers import reseller_create

    rng = random.Random(5)
    tag = uuid.uuid4().hex[:4]
    first_day = timezone.localdate() + dt.timedelta(days=30)
    now = timezone.now()
    started = time.monotonic()
    languages = ["en", "fr", "nl", "fi", "sv"]
    with transaction.atomic():
        site = Site.objects.create(slug=f"bench-closure-{tag}", name="Bench closure site")
        exhibition = Exhibition.objects.create(
            site=site, slug=f"bench-closure-{tag}", name="Bench closure"
        )
        adult = TicketType.objects.create(
            site=site,
            kind=TicketType.Kind.ADULT,
            name="Adult",
            price_cents=1400,
            vat_rate=Decimal("6.00"),
            max_per_order=10,
        )
        reseller, _token = reseller_create(
            name=f"Bench tours {tag}", contact_email=f"ops-{tag}@bench.example"
        )
        tz = timezone.get_current_timezone()
        slots = TimeSlot.objects.bulk_create(
            [
                TimeSlot(
                    exhibition=exhibition,
                    site=site,
                    starts_at=dt.datetime.combine(
                        first_day + dt.timedelta(days=d), dt.time(9 + h), tzinfo=tz
                    ),
                    ends_at=dt.datetime.combine(
                        first_day + dt.timedelta(days=d), dt.time(10 + h), tzinfo=tz
                    ),
                    capacity=rows,
                )
                for d in range(DAYS)
                for h in range(SLOTS_PER_DAY)
            ]
        )
        orders, counts, channels = [], [], Counter()
        for i in range(rows):
            draw = rng.random()
            count = rng.choice((1, 1, 2, 2, 3))
            if draw < 0.40:
                channel, method = Order.Channel.WEB, Order.PaymentMethod.STRIPE
            elif draw < 0.60:
                channel, method = Order.Channel.WEB, Order.PaymentMethod.DEMO
            elif draw < 0.95:
                channel, method = Order.Channel.DESK, Order.PaymentMethod.CASH
            else:
                channel, method = Order.Channel.RESELLER, Order.PaymentMethod.INVOICE
            channels[f"{channel}/{method}"] += 1
            orders.append(
                Order(
                    code=f"C{tag}{i:07d}",
                    site=site,
                    status=Order.Status.PAID,
                    channel=channel,
                    payment_method=method,
                    email=f"buyer{i}@bench.example",
                    name=f"Buyer {i}",
                    language=rng.choice(languages),
                    reseller=reseller if channel == Order.Channel.RESELLER else None,
                    reseller_reference=f"R{i}" if channel == Order.Channel.RESELLER else "",
                    total_cents=1400 * count,
                    paid_at=now,
                )
            )
            counts.append(count)
        Order.objects.bulk_create(orders, batch_size=2000)
        # bulk_create saves no buyer rows: the details set on each order are saved here.
        OrderBuyer.objects.bulk_create(
            [
                OrderBuyer(
                    order=o, email=o.email, name=o.name, reseller_reference=o.reseller_reference
                )
                for o in orders
            ],
            batch_size=2000,
        )
        tickets, payments = [], []
        for order, count in zip(orders, counts, strict=True):
            slot = rng.choice(slots)
            tickets += [
                Ticket(
                    order=order,
                    time_slot=slot,
                    ticket_type=adult,
                    price_cents=1400,
                    vat_rate=adult.vat_rate,
                    status=Ticket.Status.VALID,
                )
                for _ in range(count)
            ]
            if order.payment_method in (Order.PaymentMethod.STRIPE, Order.PaymentMethod.DEMO):
                payments.append(
                    Payment(
                        order=order,
                        provider=order.payment_method,
                        reference=f"bench_{tag}_{order.code}",
                        payment_intent=f"pi_bench_{tag}_{order.code}",
                        amount_cents=order.total_cents,
                        currency="EUR",
                        status=Payment.Status.SUCCEEDED,
                    )
                )
        Ticket.objects.bulk_create(tickets, batch_size=2000)
        Payment.objects.bulk_create(payments, batch_size=2000)
    with connection.cursor() as cursor:
        for model in (Order, Ticket, Payment, TimeSlot):
            cursor.execute(f'ANALYZE "{model._meta.db_table}"')
    return {
        "site": site.pk,
        "first_day": first_day.isoformat(),
        "last_day": (first_day + dt.timedelta(days=DAYS - 1)).isoformat(),
        "orders": len(orders),
        "tickets": len(tickets),
        "payments": len(payments),
        "channels": dict(channels),
        "seed_s": round(time.monotonic() - started, 1),
    }


class _QueryProfile:
    """Counts SQL statements and their time by kind and table (BENCH_CLOSURE_PROFILE=1)."""

    def __init__(self) -> None:
        self.count: Counter = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        words = sql.split()
        kind = words[0].upper() if words else "?"
        table = next((w.strip('"') for w in words if w.startswith('"') and "_" in w), "")
        key = f"{kind} {table.split('.')[0]}"
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count[key] += 1
            self.seconds[key] += time.perf_counter() - started

    def report(self) -> dict:
        return {
            key: {"n": n, "ms": round(self.seconds[key] * 1000)}
            for key, n in self.count.most_common(25)
        }


def run() -> dict:
    """Start a closure of the seeded site's days and process it as the worker would."""
    _django()
    from celery.app.task import Task
    from django.db import connection
    from django.db.models import Count, Sum
    from django.utils import timezone

    from museum.models import OutboxEmail, Site
    from refunds.models import Campaign, CampaignOrder, Refund, ResellerNotice
    from refunds.services.campaigns import campaign_process, campaign_start
    from ticketing.models import Ticket, TimeSlot

    queued: Counter = Counter()

    def _count_only(self, args=None, kwargs=None, **options):
        queued[self.name.rsplit(".", 1)[-1]] += 1

    Task.apply_async = _count_only  # type: ignore[method-assign]

    site = Site.objects.filter(slug__startswith="bench-closure-").order_by("-pk").first()
    starts = TimeSlot.objects.filter(site=site).values_list("starts_at", flat=True)
    days = sorted({timezone.localdate(s) for s in starts})
    campaign = Campaign.objects.create(
        scope=Campaign.Scope.SITE,
        site=site,
        first_day=days[0],
        last_day=days[-1],
        reason=STATE["reason"],
        extend_cards=True,
    )
    seats_before = (
        Ticket.objects.filter(time_slot__site=site, status=Ticket.Status.VALID).aggregate(
            n=Sum("seats")
        )["n"]
        or 0
    )
    emails_before = OutboxEmail.objects.count()
    profile = _QueryProfile() if os.environ.get("BENCH_CLOSURE_PROFILE") else None
    chunks = 0
    started = time.monotonic()
    if profile is not None:
        connection.execute_wrappers.append(profile)
    campaign_start(campaign=campaign, actor=None)
    start_s = time.monotonic() - started
    while campaign_process(campaign_id=campaign.pk):
        chunks += 1
    elapsed = time.monotonic() - started
    if profile is not None:
        connection.execute_wrappers.remove(profile)
    campaign.refresh_from_db()
    seats_after = (
        Ticket.objects.filter(time_slot__site=site, status=Ticket.Status.VALID).aggregate(
            n=Sum("seats")
        )["n"]
        or 0
    )
    done = CampaignOrder.objects.filter(campaign=campaign, status=CampaignOrder.Status.DONE)
    result = {
        "orders": done.count(),
        "failed": CampaignOrder.objects.filter(
            campaign=campaign, status=CampaignOrder.Status.FAILED
        ).count(),
        "campaign_status": campaign.status,
        "refunds": dict(
            Refund.objects.filter(campaign=campaign)
            .values_list("method")
            .annotate(n=Count("pk"))
            .values_list("method", "n")
        ),
        "emails_queued": OutboxEmail.objects.count() - emails_before,
        "reseller_notices": ResellerNotice.objects.filter(campaign=campaign).count(),
        "seats_returned": seats_before - seats_after,
        "tasks_queued": dict(queued),
        "chunks": chunks + 1,
        "start_s": round(start_s, 2),
        "seconds": elapsed,
    }
    if profile is not None:
        result["sql"] = profile.report()
        result["sql_total"] = sum(profile.count.values())
    return result


def measure(env: dict[str, str] | None = None) -> dict[str, float]:
    """Run the closure in a child process; its orders per second and its own peak memory."""
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
        raise RuntimeError(f"bench/closure.py run exited with {child.returncode}")
    result = json.loads(output)
    # Linux reports ru_maxrss in kilobytes.
    return {
        "closure_orders_per_s": round(result["orders"] / result["seconds"], 1),
        "closure_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **{f"closure_{k}": v for k, v in result.items() if k not in ("seconds",)},
        "closure_seconds": round(result["seconds"], 2),
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
    print(f"[bench] closure seed: {seeded}", file=sys.stderr, flush=True)
    result = measure()
    print(f"[bench] closure: {result}", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "metric": "closure_orders_per_s",
                "value": result["closure_orders_per_s"],
                "unit": "orders/s",
            }
        )
    )
    print(
        json.dumps(
            {"metric": "closure_peak_rss_mb", "value": result["closure_peak_rss_mb"], "unit": "MB"}
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
