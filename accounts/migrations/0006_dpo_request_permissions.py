"""The DPO's console: subject requests, their trail, erasure records and restrictions.

The DPO sees and works the queue of subject requests (view and change), writes to the
trail (view and add events), and reads erasure records and processing restrictions. No
one else gets these rights: docs/staff-roles.md.
"""

from django.db import migrations

DPO_ADDS = [
    "privacy.view_subjectrequest",
    "privacy.change_subjectrequest",
    "privacy.view_subjectrequestevent",
    "privacy.add_subjectrequestevent",
    "privacy.view_erasurerecord",
    "privacy.view_processingrestriction",
]


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
    dpo, _ = Group.objects.get_or_create(name="DPO")
    dpo.permissions.add(*_permissions(apps, DPO_ADDS))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    dpo = Group.objects.filter(name="DPO").first()
    if dpo is not None:
        dpo.permissions.remove(*_permissions(apps, DPO_ADDS))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_more_staff_groups"),
        ("privacy", "0001_privacy_records"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
