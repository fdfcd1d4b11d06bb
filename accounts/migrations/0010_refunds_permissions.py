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


def _permissions(apps, codes):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for code in codes:
        app_label, codename = code.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, codes))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codes in GROUPS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codes))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_user_last_activity_backfill"),
        ("refunds", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
