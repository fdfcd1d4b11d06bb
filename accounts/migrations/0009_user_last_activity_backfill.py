"""Give existing accounts their last activity: the latest of the last sign-in, the sign-up
and the last paid order (the account's own, or bought with its address as a guest).

Seed 003 counts "no purchase, no sign-in, no newsletter opened". Before
``User.last_activity_at`` only sign-ins were recorded; without this, an account whose
holder bought tickets six years ago but last signed in eight years ago would be anonymised
as inactive. Opens were never recorded and cannot be recovered. Only rows without a value
are filled, so running it after the services started recording changes nothing for them.
"""

from django.db import migrations
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest


def backfill(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    Order = apps.get_model("ticketing", "Order")
    # The buyer's address is the order's own column when this migration runs (ticketing
    # 0009 moves it to OrderBuyer afterwards); the test runs it on today's models.
    has_column = any(f.name == "email" for f in Order._meta.get_fields())
    address = "email__iexact" if has_column else "buyer__email__iexact"
    last_paid = (
        Order.objects.filter(paid_at__isnull=False)
        .filter(Q(user_id=OuterRef("pk")) | Q(**{address: OuterRef("email")}))
        .order_by("-paid_at")
        .values("paid_at")[:1]
    )
    User.objects.filter(last_activity_at__isnull=True).update(
        last_activity_at=Greatest(
            Coalesce("last_login", "date_joined"),
            Coalesce(Subquery(last_paid), "date_joined"),
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0008_user_last_activity_at"),
        ("ticketing", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
