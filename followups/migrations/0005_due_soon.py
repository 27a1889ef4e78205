"""The `due_soon` reason (issue 14): the purchase model expects her next purchase soon."""

from django.db import migrations


def seed(apps, schema_editor):
    FollowUpRule = apps.get_model("followups", "FollowUpRule")
    FollowUpRule.objects.get_or_create(
        reason="due_soon",
        defaults={
            "days": 2,
            "message_template": "{name}您好，最近店里到了几款很适合您的新品，有空来试试吗？",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("followups", "0004_fewer_indexes")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
