"""Ticket PDF rendering, in-process: median wall time of ticketing.documents.order_pdf.

    python bench/pdf.py ORDER_1_ID ORDER_10_ID   (bench environment; run by bench/run.py)

Prints one JSON line per metric. Each order is rendered a few times first (imports,
fonts, the stylesheet and the template are loaded once per process), then timed.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "museum.settings")

import django  # noqa: E402

django.setup()

from ticketing.documents import order_pdf  # noqa: E402
from ticketing.models import Order  # noqa: E402

WARM_UP = 5


def median_ms(order: Order, runs: int) -> float:
    for _ in range(WARM_UP):
        order_pdf(order)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        pdf = order_pdf(order)
        times.append((time.perf_counter() - started) * 1000)
        assert pdf.startswith(b"%PDF-")
    return statistics.median(times)


def main() -> None:
    one = Order.objects.select_related("site").get(pk=int(sys.argv[1]))
    ten = Order.objects.select_related("site").get(pk=int(sys.argv[2]))
    assert one.tickets.count() == 1 and ten.tickets.count() == 10
    for name, order, runs in (("ticket_pdf_ms", one, 40), ("ticket_pdf_10_ms", ten, 20)):
        value = round(median_ms(order, runs), 1)
        print(json.dumps({"metric": name, "value": value, "unit": "ms"}), flush=True)


if __name__ == "__main__":
    main()
