"""An index on Customer.updated_at: the nightly relabel reads the fans saved since its last run."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0002_store_id_indexes'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['updated_at'], name='customer_updated_idx'),
        ),
    ]
