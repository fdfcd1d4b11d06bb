"""Staff groups with least privilege: the manager's card rights and four more groups.

Each group holds what its job needs and nothing more; docs/staff-roles.md shows the
matrix and tests/accounts/test_permissions.py proves it page by page. "Front desk" is
left as 0002 made it.
"""

from django.db import migrations

MANAGER_ADDS = [
    "accounts.view_cardproduct", "accounts.change_cardproduct",
    "accounts.view_museumcard", "accounts.change_museumcard",
    "accounts.view_cardpurchase", "accounts.view_cardvisit",
    "accounts.view_card_settlement",
]
# Phone and e-mail bookings (guide bookings join with their issue): reads the calendar and
# the orders, sells like the desk; changes no order and no catalogue.
BOOKING_SERVICE = [
    "museum.view_site", "museum.view_openinghours", "museum.view_closure",
    "ticketing.view_exhibition", "ticketing.view_tickettype", "ticketing.view_timeslot",
    "ticketing.view_order", "ticketing.view_ticket",
    "ticketing.sell_at_desk",
]
# The entrance (lost and found joins with its issue): checks tickets and cards in.
GUARD_OFFICE = [
    "ticketing.check_in", "ticketing.view_ticket", "accounts.view_cardvisit",
]
# Words, not money: the public descriptions of sites and exhibitions, and who consented to
# the newsletter. Ticket types (prices) stay out of reach.
COMMUNICATION = [
    "museum.view_site", "museum.change_site",
    "ticketing.view_exhibition", "ticketing.change_exhibition",
    "newsletter.view_newsletterconsent",
]
# The data protection officer reads personal data to answer requests and audits; the only
# thing they change is a closure request's status. No money, no catalogue.
DPO = [
    "accounts.view_user",
    "accounts.view_accountclosurerequest", "accounts.change_accountclosurerequest",
    "accounts.view_museumcard", "accounts.view_cardvisit",
    "ticketing.view_order", "ticketing.view_ticket",
    "museum.view_auditevent", "museum.view_outboxemail",
    "newsletter.view_newsletterconsent",
]
NEW_GROUPS = {
    "Booking service": BOOKING_SERVICE,
    "Guard office": GUARD_OFFICE,
    "Communication": COMMUNICATION,
    "DPO": DPO,
}


def _permissions(apps, codes):
    Permission = apps.get_model("auth", "Permission")
    found = []
    for code in codes:
        app_label, codename = code.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    manager, _ = Group.objects.get_or_create(name="Manager")
    manager.permissions.add(*_permissions(apps, MANAGER_ADDS))
    for name, codes in NEW_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(apps, codes))


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=NEW_GROUPS).delete()
    manager = Group.objects.filter(name="Manager").first()
    if manager is not None:
        manager.permissions.remove(*_permissions(apps, MANAGER_ADDS))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_museum_card_and_profile"),
        ("museum", "0002_site_card_activation_allowed"),
        ("ticketing", "0003_alter_order_site_alter_tickettype_kind"),
        ("newsletter", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
