"""The DPO lifts restrictions of processing and objections to marketing (an admin action on
the restrictions, which stay read-only otherwise): ``privacy.change_processingrestriction``."""

from django.db import migrations

CODES = ["privacy.change_processingrestriction"]
GROUPS = ["DPO"]


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
        group.permissions.add(*_permissions(apps, CODES))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*_permissions(apps, CODES))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_user_accounts_user_email_upper"),
        ("privacy", "0002_consent_trackers_statistics"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
