"""CustomerLabels now belongs to customers (customers 0004): state only, the table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("segmentation", "0006_sparse_nightly_writes"),
        ("customers", "0004_customerlabels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="CustomerLabels")],
        ),
    ]
