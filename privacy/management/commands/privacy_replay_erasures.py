"""Apply every logged erasure again, e.g. after a database was restored from a backup."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from privacy.erasure import erasure_replay
from privacy.models import ErasureRecord


class Command(BaseCommand):
    help = (
        "Re-apply every erasure record's plan (by primary key) to the database: run it after "
        "restoring a backup, so that erased people stay erased."
    )

    def handle(self, *args, **options) -> None:
        count = 0
        for record in ErasureRecord.objects.order_by("performed_at", "pk"):
            erasure_replay(record=record)
            count += 1
        self.stdout.write(f"Replayed {count} erasure record(s).")
