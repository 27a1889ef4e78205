"""labels_key: the relabel job rewrites a labels row only when its new values hash differently."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('segmentation', '0008_label_changes_without_constraints'),
    ]

    operations = [
        migrations.AddField(
            model_name='customerlabels',
            name='labels_key',
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
    ]
