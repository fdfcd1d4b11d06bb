"""Apply the retention rules by hand: ``manage.py privacy_purge [--dry-run] [--rule KEY]``."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from privacy.purge import BATCH_SIZE, PurgeError, purge_run


class Command(BaseCommand):
    help = (
        "Delete or anonymise the personal data past its retention (every rule, or one), "
        "and print the report. --dry-run only counts."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count only; change nothing.")
        parser.add_argument("--rule", default="", help="A declaration key or a rule key.")
        parser.add_argument(
            "--as-of",
            default="",
            help="Apply the rules as at local midnight of this day (YYYY-MM-DD); default now.",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, **options) -> None:
        as_of = None
        if options["as_of"]:
            try:
                day = dt.date.fromisoformat(options["as_of"])
            except ValueError as error:
                raise CommandError(f"--as-of: {error}") from error
            as_of = dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_current_timezone())
        try:
            run = purge_run(
                as_of=as_of,
                dry_run=options["dry_run"],
                only_rule=options["rule"],
                batch_size=options["batch_size"],
            )
        except PurgeError as error:
            raise CommandError(str(error)) from error
        kind = "Dry run" if run.dry_run else "Purge"
        self.stdout.write(f"{kind} #{run.pk} as of {run.as_of:%Y-%m-%d %H:%M} ({run.status})")
        width = max((len(key) for key in run.report), default=10)
        for key, entry in run.report.items():
            held = ", ".join(f"{reason}: {n}" for reason, n in entry["held"].items())
            line = (
                f"{key:<{width}}  deleted {entry['deleted']:>8}  "
                f"anonymised {entry['anonymised']:>8}"
            )
            if held:
                line += f"  held: {held}"
            if entry.get("kept"):
                line += f"  kept: {entry['kept']}"
            self.stdout.write(line)
