"""Refunds in the admin: who runs cancellations, decides refunds and pays them back.

Managers create and run cancellation campaigns, decide buyers' requests, retry failed
refunds and export the bank transfer file (there is no finance group: the manager holds
the money rights, as for payments and sales). The front desk and the booking service see
the refunds, give a buyer's bank details and record a refund paid in cash at the desk
(``change_refund``; the money fields stay read-only); they decide nothing. Vouchers are
readable by the three groups, to answer a buyer. Nobody changes or deletes a transfer
batch or a voucher in the admin: services write them. docs/staff-roles.md shows the
matrix and tests/accounts/test_permissions.py proves it.
"""

from django.db import migrations

from accounts.migrations._grants import group_permissions

MANAGER = [
    "refunds.view_campaign",
    "refunds.add_campaign",
    "refunds.change_campaign",
    "refunds.run_campaign",
    "refunds.view_refund",
    "refunds.change_refund",
    "refunds.decide_refund",
    "refunds.export_transfers",
    "refunds.view_transferbatch",
    "refunds.view_voucher",
]
DESK_AND_BOOKING = [
    "refunds.view_refund",
    "refunds.change_refund",
    "refunds.view_voucher",
]
GROUPS = {
    "Manager": MANAGER,
    "Front desk": DESK_AND_BOOKING,
    "Booking service": DESK_AND_BOOKING,
}


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_user_last_activity_backfill"),
        ("refunds", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [group_permissions(GROUPS)]
