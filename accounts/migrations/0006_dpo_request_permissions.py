"""The DPO's console: subject requests, their trail, erasure records and restrictions.

The DPO sees and works the queue of subject requests (view and change), writes to the
trail (view and add events), and reads erasure records and processing restrictions. No
one else gets these rights: docs/staff-roles.md.
"""

from django.db import migrations

from accounts.migrations._grants import group_permissions

DPO_ADDS = [
    "privacy.view_subjectrequest",
    "privacy.change_subjectrequest",
    "privacy.view_subjectrequestevent",
    "privacy.add_subjectrequestevent",
    "privacy.view_erasurerecord",
    "privacy.view_processingrestriction",
]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_more_staff_groups"),
        ("privacy", "0001_privacy_records"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [group_permissions({"DPO": DPO_ADDS})]
