"""One index per label filter: (label, fan) instead of both (label) and (label, fan).

The composites were created by tagging's 0003 (raw SQL) for tag filters; they serve every filter
the single-column ones did. Here they join the model's state under the labels' own names, and
the single-column ones go: each label change of a fan updated all of them (measured at 1M fans:
the nightly UPDATE of ~30,000 moved rows touches 8 indexes → 5).
"""

from django.db import migrations, models

COMPOSITES = [
    ("tagging_filter_apple_idx", "labels_apple_idx", "apple"),
    ("tagging_filter_segment_idx", "labels_segment_idx", "rfm_segment"),
    ("tagging_filter_stage_idx", "labels_stage_idx", "r_stage"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("segmentation", "0006_labels_as_of_per_store"),
        ("tagging", "0003_tag_filter_indexes"),
    ]

    operations = [
        *(
            migrations.RemoveIndex(model_name="customerlabels", name=name)
            for _, name, _ in COMPOSITES
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="customerlabels",
                    index=models.Index(fields=[field, "customer"], name=old_name),
                )
                for old_name, _, field in COMPOSITES
            ]
        ),
        *(
            migrations.RenameIndex(model_name="customerlabels", new_name=name, old_name=old_name)
            for old_name, name, _ in COMPOSITES
        ),
    ]
