"""The DPO lifts restrictions of processing and objections to marketing (an admin action on
the restrictions, which stay read-only otherwise): ``privacy.change_processingrestriction``."""

from django.db import migrations

from accounts.migrations._grants import group_permissions

CODES = ["privacy.change_processingrestriction"]
GROUPS = ["DPO"]


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0011_user_accounts_user_email_upper"),
        ("privacy", "0002_consent_trackers_statistics"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [group_permissions({name: CODES for name in GROUPS})]
