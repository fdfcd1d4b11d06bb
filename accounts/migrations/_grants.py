"""Granting permissions to staff groups in data migrations (not a migration: the loader
skips modules whose name starts with an underscore).

``group_permissions({"DPO": ["privacy.view_subjectrequest", ...]})`` is a RunPython that
creates the permissions first (they are made after all migrations otherwise), creates the
groups if they are missing and adds the permissions; reversed, it removes them again.
Keep it stable: applied migrations call it.
"""

from django.db import migrations


def _permissions(apps, codes):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for code in codes:
        app_label, codename = code.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def group_permissions(groups: dict[str, list[str]]) -> migrations.RunPython:
    def grant(apps, schema_editor):
        from django.contrib.auth.management import create_permissions

        for app_config in apps.get_app_configs():
            app_config.models_module = True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        for name, codes in groups.items():
            group, _ = Group.objects.get_or_create(name=name)
            group.permissions.add(*_permissions(apps, codes))

    def revoke(apps, schema_editor):
        Group = apps.get_model("auth", "Group")
        for name, codes in groups.items():
            group = Group.objects.filter(name=name).first()
            if group is not None:
                group.permissions.remove(*_permissions(apps, codes))

    return migrations.RunPython(grant, revoke)
