"""LabelChange keeps its keys without database constraints (see the model: the switch writes
tens of thousands at once, and each checked key would lock its fan's row)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0003_customer_updated_index'),
        ('segmentation', '0007_label_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='labelchange',
            name='customer',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='label_changes', to='customers.customer'),
        ),
        migrations.AlterField(
            model_name='labelchange',
            name='run',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='segmentation.relabelrun'),
        ),
    ]
