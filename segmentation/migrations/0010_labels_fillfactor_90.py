"""fillfactor 90 on the labels table: the nightly job now rewrites only the rows that moved.

0002 left half of every page free because every row was rewritten nightly. With a few percent of
rows rewritten, 10 % free room keeps their updates HOT, and the table (read whole by every run)
is about half the size. Existing pages are repacked by the next VACUUM FULL; PostgreSQL only.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE segmentation_customerlabels SET (fillfactor = 90)")


def back_to_half(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE segmentation_customerlabels SET (fillfactor = 50)")


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0009_labels_key")]

    operations = [migrations.RunPython(set_fillfactor, back_to_half)]
