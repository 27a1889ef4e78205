"""The nightly relabel rewrites only the labels rows that moved, not all of them.

- `as_of` moves from every fan's row to one row per store (`StoreLabelling`) and `recency_days`
  is derived from it: a new day alone changes no labels row. Existing labels keep their date
  (each store gets the latest as_of of its fans' rows).
- `labels_key`: a hash of the values the job wrote; the job rewrites a row when it differs.
- One index per label filter, (label, fan): tagging's 0003 created those composites in raw SQL
  for tag filters; they join the model under the labels' own names, and the single-column ones
  go (each label change of a fan updated all eight indexes; now five).
- LabelChange keeps its keys without database constraints: the switch writes tens of thousands
  at once, and each checked key would lock its fan's row (≈ 0.4 s at 30,000 changes).
- fillfactor 90 instead of 0002's 50: with a few percent of rows rewritten nightly, 10 % free
  room keeps their updates HOT and the table, read whole by every run, is about half the size
  (existing pages are repacked by the next VACUUM FULL). PostgreSQL only.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Max

COMPOSITES = [  # (tagging 0003's name, the labels' name, label)
    ("tagging_filter_apple_idx", "labels_apple_idx", "apple"),
    ("tagging_filter_segment_idx", "labels_segment_idx", "rfm_segment"),
    ("tagging_filter_stage_idx", "labels_stage_idx", "r_stage"),
]


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


def fillfactor(value: int):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE segmentation_customerlabels SET (fillfactor = {value})"
            )

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0003_customer_updated_index"),
        ("segmentation", "0005_label_statistics"),
        ("tagging", "0003_tag_filter_indexes"),
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
        migrations.RemoveField(model_name="customerlabels", name="as_of"),
        migrations.RemoveField(model_name="customerlabels", name="recency_days"),
        migrations.AddField(
            model_name="customerlabels",
            name="labels_key",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="relabelrun",
            name="rows_written",
            field=models.IntegerField(default=0, verbose_name="labels rows written"),
        ),
        *(
            migrations.RemoveIndex(model_name="customerlabels", name=name)
            for _, name, _ in COMPOSITES
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="customerlabels",
                    index=models.Index(fields=[label, "customer"], name=old_name),
                )
                for old_name, _, label in COMPOSITES
            ]
        ),
        *(
            migrations.RenameIndex(model_name="customerlabels", new_name=name, old_name=old_name)
            for old_name, name, _ in COMPOSITES
        ),
        migrations.AlterField(
            model_name="labelchange",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="label_changes",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="labelchange",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="changes",
                to="segmentation.relabelrun",
            ),
        ),
        migrations.RunPython(fillfactor(90), fillfactor(50)),
    ]
