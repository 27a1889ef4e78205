"""Labels' as_of moves from every fan's row to one row per store; recency_days is derived.

A new day then changes no labels row by itself, so the nightly relabel rewrites only the fans
whose labels moved. Existing labels keep their date: each store gets the latest as_of of its
fans' rows.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Max


def as_of_per_store(apps, schema_editor):
    CustomerLabels = apps.get_model("segmentation", "CustomerLabels")
    StoreLabelling = apps.get_model("segmentation", "StoreLabelling")
    latest = (
        CustomerLabels.objects.filter(as_of__isnull=False)
        .values("customer__store_id")
        .annotate(as_of=Max("as_of"))
    )
    StoreLabelling.objects.bulk_create(
        StoreLabelling(store_id=row["customer__store_id"], as_of=row["as_of"]) for row in latest
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_store_id_indexes"),
        ("segmentation", "0005_label_statistics"),
    ]

    operations = [
        migrations.CreateModel(
            name="StoreLabelling",
            fields=[
                (
                    "store",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="labelling",
                        serialize=False,
                        to="customers.store",
                    ),
                ),
                ("as_of", models.DateField(verbose_name="labels as of")),
            ],
            options={
                "verbose_name": "store labelling",
                "verbose_name_plural": "store labelling",
            },
        ),
        migrations.RunPython(as_of_per_store, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="customerlabels",
            name="as_of",
        ),
        migrations.RemoveField(
            model_name="customerlabels",
            name="recency_days",
        ),
        migrations.AddField(
            model_name="relabelrun",
            name="rows_written",
            field=models.IntegerField(default=0, verbose_name="labels rows written"),
        ),
    ]
