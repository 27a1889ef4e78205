"""The `forecast` group (issue 14, SPEC §8): computed nightly from the purchase models."""

from django.db import migrations

TAGS = [("due_soon", "即将回购", "Due soon"), ("at_risk", "流失风险", "At risk")]


def seed(apps, schema_editor):
    TagGroup = apps.get_model("tagging", "TagGroup")
    Tag = apps.get_model("tagging", "Tag")
    group, _ = TagGroup.objects.update_or_create(
        code="forecast",
        defaults={
            "name_zh": "购买预测",
            "name_en": "Purchase forecast",
            "kind": "computed",
            "is_multi": False,
            "order": 55,  # after the purchase rhythm
        },
    )
    for order, (code, name_zh, name_en) in enumerate(TAGS, start=1):
        Tag.objects.update_or_create(
            group=group, code=code, defaults={"name_zh": name_zh, "name_en": name_en, "order": order}
        )


class Migration(migrations.Migration):
    dependencies = [("tagging", "0003_tag_filter_indexes")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
