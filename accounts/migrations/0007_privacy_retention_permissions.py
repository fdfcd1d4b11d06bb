"""Retention in the admin: managers and the DPO set the retention values and run the purge.

Both groups see, add, change and delete retention settings (deleting one goes back to the
declaration's default), read the purge runs and their reports, and may run the purge or a
dry run (``privacy.run_purge``). Nobody changes or deletes a run: it is the record.
Numbered after 0006 (the DPO's request rights), which it follows.
"""

from django.db import migrations

from accounts.migrations._grants import group_permissions

RETENTION = [
    "privacy.view_retentionsetting",
    "privacy.add_retentionsetting",
    "privacy.change_retentionsetting",
    "privacy.delete_retentionsetting",
    "privacy.view_purgerun",
    "privacy.run_purge",
]
GROUPS = ["Manager", "DPO"]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_dpo_request_permissions"),
        ("privacy", "0001_privacy_records"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [group_permissions({name: RETENTION for name in GROUPS})]
