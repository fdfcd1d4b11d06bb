"""An index on UPPER(email) for orders: a person's orders are found by address, any case.

The privacy access bundle, the erasure and the purge match addresses with ``iexact``
(``UPPER("email") = UPPER(%s)`` in PostgreSQL), which the plain index on ``email`` cannot
serve: without this one each lookup read the whole orders table (bench/export.py,
access_export_ms). A plain AddIndex, so that it runs on SQLite too (the settings'
default); on a large production table, build it first with
``CREATE INDEX CONCURRENTLY ticketing_order_email_upper ON ticketing_order (UPPER(email))``
and fake this migration.
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ticketing", "0004_ticket_museum_card"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                django.db.models.functions.text.Upper("email"), name="ticketing_order_email_upper"
            ),
        ),
    ]
