from django.db import migrations

# reason, days, message ("" = the fan's segment playbook message; remark_update: the remark itself)
RULES = [
    ("after_sale_care", 3, "{name}您好，新衣服穿着还合适吗？洗护或搭配有任何问题随时找我哦～"),
    ("repurchase_nudge", 60, ""),
    ("birthday", 7, "{name}，提前祝您生日快乐！生日月到店有专属礼遇，期待您来～"),
    ("stage_drop", 0, ""),
    ("apple_upgrade", 0, "恭喜{name}升级！感谢一直以来的支持，新品到店第一时间通知您～"),
    ("remark_update", 0, ""),
]


def seed(apps, schema_editor):
    FollowUpRule = apps.get_model("followups", "FollowUpRule")
    for reason, days, message in RULES:
        FollowUpRule.objects.get_or_create(
            reason=reason, defaults={"days": days, "message_template": message}
        )


class Migration(migrations.Migration):
    dependencies = [("followups", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
