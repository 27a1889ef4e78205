"""Seed the company's one tag vocabulary (SPEC §2): every group and tag, 中文 and English names.

Idempotent (update_or_create by code), so it is safe on a database that already has some of it;
reversing it is a no-op because tags may already carry history.
"""

from django.db import migrations

# (group code, 中文, English, kind, is_multi, [(tag code, 中文, English), ...])
TAXONOMY = [
    ("apple", "苹果标签", "Apple tier", "computed", False, [
        ("blossom", "苹果花", "Apple blossom"),
        ("green", "青苹果", "Green apple"),
        ("yellow", "黄苹果", "Yellow apple"),
        ("red", "红苹果", "Red apple"),
        ("golden", "金苹果", "Golden apple"),
    ]),
    ("rfm_segment", "RFM八类", "RFM segment", "computed", False, [
        ("important_value", "重要价值客户", "Important value"),
        ("important_development", "重要发展客户", "Important development"),
        ("important_retain", "重要保持客户", "Important retain"),
        ("important_winback", "重要挽留客户", "Important win-back"),
        ("general_value", "一般价值客户", "General value"),
        ("general_development", "一般发展客户", "General development"),
        ("general_retain", "一般保持客户", "General retain"),
        ("general_winback", "一般挽留客户", "General win-back"),
    ]),
    ("r_stage", "R阶段", "Recency stage", "computed", False, [
        ("active", "活跃", "Active"),
        ("sleeping", "睡眠", "Sleeping"),
        ("pre_churn", "预流失", "Pre-churn"),
        ("churned", "流失", "Churned"),
    ]),
    ("membership", "会员等级", "Membership", "computed", False, [
        ("supreme_vip", "至尊VIP", "Supreme VIP"),
        ("vip", "VIP", "VIP"),
        ("senior", "高级会员", "Senior member"),
        ("regular", "普通会员", "Regular member"),
    ]),
    ("rhythm", "购买节奏", "Purchase rhythm", "computed", False, [
        ("monthly", "月度", "Monthly"),
        ("quarterly", "季度", "Quarterly"),
        ("half_yearly", "半年", "Half-yearly"),
        ("yearly", "年度", "Yearly"),
        ("single", "单次", "Single purchase"),
    ]),
    ("zodiac", "星座", "Zodiac sign", "computed", False, [
        ("aries", "白羊座", "Aries"),
        ("taurus", "金牛座", "Taurus"),
        ("gemini", "双子座", "Gemini"),
        ("cancer", "巨蟹座", "Cancer"),
        ("leo", "狮子座", "Leo"),
        ("virgo", "处女座", "Virgo"),
        ("libra", "天秤座", "Libra"),
        ("scorpio", "天蝎座", "Scorpio"),
        ("sagittarius", "射手座", "Sagittarius"),
        ("capricorn", "摩羯座", "Capricorn"),
        ("aquarius", "水瓶座", "Aquarius"),
        ("pisces", "双鱼座", "Pisces"),
    ]),
    ("birthday_month", "生日圈", "Birthday month", "computed", False, [
        (f"m{m:02d}", f"{m}月生日", f"Born in month {m}") for m in range(1, 13)
    ]),
    ("distance", "本地/外地", "Distance", "computed", False, [
        ("within_3km", "三公里内", "Within 3 km"),
        ("beyond_3km", "三公里外（同城）", "Beyond 3 km (same city)"),
        ("same_city", "同城（无坐标）", "Same city (no coordinates)"),
        ("out_of_town", "外地", "Out of town"),
    ]),
    ("participated", "参加活动", "Took part in event", "event", True, []),
    ("transacted", "活动成交", "Bought at event", "event", True, []),
    ("style", "风格", "Style", "manual", True, [
        ("business", "商务正装", "Business formal"),
        ("sport_fashion", "运动时尚", "Sporty fashion"),
        ("cotton_linen_art", "棉麻文艺", "Cotton & linen, artsy"),
        ("urban_nature", "都市自然", "Urban natural"),
        ("avant_garde", "前卫艺术", "Avant-garde"),
        ("haute_couture", "高级定制", "Haute couture"),
    ]),
    ("profession", "职业圈", "Profession", "manual", False, [
        ("white_collar", "白领", "White-collar"),
        ("teacher", "教师", "Teacher"),
        ("business_owner", "企业主", "Business owner"),
        ("stay_home_parent", "宝爸宝妈", "Stay-at-home parent"),
        ("it", "IT", "IT"),
        ("bank", "银行", "Banking"),
        ("government", "政府机关", "Government"),
        ("finance_accounting", "财务会计", "Finance & accounting"),
        ("insurance", "保险", "Insurance"),
        ("direct_selling", "直销", "Direct selling"),
        ("wechat_business", "微商", "WeChat business"),
        ("freelancer", "自由职业", "Freelancer"),
        ("affluent_lady", "富太太", "Affluent lady"),
        ("student", "学生", "Student"),
    ]),
    ("attention", "关注点", "Interests", "manual", True, [
        ("new_arrivals", "关注上新", "New arrivals"),
        ("activities", "关注活动", "Events"),
    ]),
    ("promo_code", "代号标签", "Promotion code", "manual", True, []),
]


def seed(apps, schema_editor):
    TagGroup = apps.get_model("tagging", "TagGroup")
    Tag = apps.get_model("tagging", "Tag")
    for group_order, (code, name_zh, name_en, kind, is_multi, tags) in enumerate(TAXONOMY, start=1):
        group, _ = TagGroup.objects.update_or_create(
            code=code,
            defaults={
                "name_zh": name_zh,
                "name_en": name_en,
                "kind": kind,
                "is_multi": is_multi,
                "order": group_order * 10,
            },
        )
        for tag_order, (tag_code, tag_zh, tag_en) in enumerate(tags, start=1):
            Tag.objects.update_or_create(
                group=group,
                code=tag_code,
                defaults={"name_zh": tag_zh, "name_en": tag_en, "order": tag_order},
            )


class Migration(migrations.Migration):
    dependencies = [("tagging", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
