"""Retention in the admin: managers and the DPO set the retention values and run the purge.

Both groups see, add, change and delete retention settings (deleting one goes back to the
declaration's default), read the purge runs and their reports, and may run the purge or a
dry run (``privacy.run_purge``). Nobody changes or deletes a run: it is the record.
Numbered after 0006 (the DPO's request rights), which it follows.
"""

from django.db import migrations

RETENTION = [
    "privacy.view_retentionsetting",
    "privacy.add_retentionsetting",
    "privacy.change_retentionsetting",
    "privacy.delete_retentionsetting",
    "privacy.view_purgerun",
    "privacy.run_purge",
]
GROUPS = ["Manager", "DPO"]


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
    for name in GROUPS:
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, RETENTION))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*_permissions(apps, RETENTION))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_dpo_request_permissions"),
        ("privacy", "0001_privacy_records"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
