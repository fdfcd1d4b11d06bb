"""Staff groups with least privilege for the ticket shop (more groups join later)."""

from django.db import migrations

FRONT_DESK = [
    "museum.view_site", "museum.view_openinghours", "museum.view_closure",
    "ticketing.view_exhibition", "ticketing.view_tickettype", "ticketing.view_timeslot",
    "ticketing.view_order", "ticketing.change_order", "ticketing.view_ticket",
    "ticketing.check_in", "ticketing.sell_at_desk",
]
MANAGER = FRONT_DESK + [
    "museum.add_site", "museum.change_site",
    "museum.add_openinghours", "museum.change_openinghours", "museum.delete_openinghours",
    "museum.add_closure", "museum.change_closure", "museum.delete_closure",
    "museum.view_auditevent", "museum.view_outboxemail",
    "ticketing.add_exhibition", "ticketing.change_exhibition",
    "ticketing.add_tickettype", "ticketing.change_tickettype",
    "ticketing.view_slotrule", "ticketing.add_slotrule", "ticketing.change_slotrule", "ticketing.delete_slotrule",
    "ticketing.add_timeslot", "ticketing.change_timeslot",
    "ticketing.view_reseller", "ticketing.add_reseller", "ticketing.change_reseller",
    "ticketing.view_resellerallocation",
    "ticketing.add_resellerallocation", "ticketing.change_resellerallocation",
    "ticketing.delete_resellerallocation", "ticketing.view_payment",
]
GROUPS = {"Front desk": FRONT_DESK, "Manager": MANAGER}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = []
        for code in codes:
            app_label, codename = code.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("museum", "0001_initial"),
        ("ticketing", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
