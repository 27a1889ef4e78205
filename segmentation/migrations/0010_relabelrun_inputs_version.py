from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("segmentation", "0009_refund_only_rows"),
        ("customers", "0007_labels_leader_and_input_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="relabelrun",
            name="inputs_version",
            field=models.CharField(blank=True, editable=False, max_length=16),
        ),
    ]
