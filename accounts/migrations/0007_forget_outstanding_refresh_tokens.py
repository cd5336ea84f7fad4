"""Refresh tokens the JWT blacklist stored whole before it kept only their id and expiry."""

from django.db import migrations


def forget_tokens(apps, schema_editor):
    OutstandingToken = apps.get_model("token_blacklist", "OutstandingToken")
    OutstandingToken.objects.exclude(token="").update(token="")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_revocation_upstream_account"),
        ("token_blacklist", "0013_alter_blacklistedtoken_options_and_more"),
    ]

    operations = [migrations.RunPython(forget_tokens, migrations.RunPython.noop)]
