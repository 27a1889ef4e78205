"""Seed one playbook per RFM segment from seed 001 (HQ edits them in the admin afterwards)."""

from django.db import migrations

PLAYBOOKS = [
    (
        "important_value",
        "专属优惠券、专属会员日、专属惊喜服务（无忧退换、极速退款、免费取送），定期送专属礼品，条件允许时邀请参加线下见面会",
        "Exclusive coupon, exclusive member day and services (worry-free returns, fast refunds, free pick-up); regular gifts; invite to an offline meet-up",
        "{name}您好！感谢您一直以来的支持，我们为您准备了一张专属优惠券和会员日专属礼品，欢迎到店领取～",
    ),
    (
        "important_development",
        "用主题活动、种草群、打卡群吸引关注，推荐新品和搭配，培养依赖和忠诚",
        "Theme events, product-seeding and check-in groups; recommend new arrivals and outfits to build loyalty",
        "{name}您好！本周店里有新品主题搭配活动，特别为您留了试穿名额，期待您来～",
    ),
    (
        "important_retain",
        "主动回访关怀，维护关系，送上老客专属福利，防止被其他品牌挖走",
        "Personal follow-up call and care; a loyal-customer benefit to keep the relationship",
        "{name}您好！好久不见，我们很想念您，为老朋友准备了一份专属福利，欢迎回店看看～",
    ),
    (
        "important_winback",
        "挽回优惠：提升产品和服务，发送回归礼券，让客户“回心转意”",
        "Win-back offer: a come-back voucher with improved products and service",
        "{name}您好！为您准备了一张回归礼券，新款已到店，期待再次为您服务～",
    ),
    (
        "general_value",
        "会员积分和升级权益，推荐搭配提高客单价",
        "Points and upgrade benefits; outfit suggestions to raise the basket",
        "{name}您好！您的会员积分可以兑换礼品啦，再消费一次即可升级，欢迎到店～",
    ),
    (
        "general_development",
        "低频购买给予优惠，通过公众号、朋友圈、视频号、社群内容建立信任",
        "A discount for the next purchase; build trust through official account, Moments, channels and groups",
        "{name}您好！第二件商品享专属折扣，欢迎加入我们的穿搭社群～",
    ),
    (
        "general_retain",
        "社群促活：定期推送新品和活动信息，积分兑换提醒",
        "Keep active in groups: regular new-arrival and event news, points reminders",
        "{name}您好！本月会员活动开始啦，积分可兑换好礼，欢迎参加～",
    ),
    (
        "general_winback",
        "低成本唤醒：节日问候和小额优惠券，不过度打扰",
        "Low-cost wake-up: holiday greetings and a small coupon, without over-contacting",
        "{name}您好！送您一张小额优惠券，有空来店里逛逛～",
    ),
]


def seed(apps, schema_editor):
    Playbook = apps.get_model("campaigns", "Playbook")
    for segment, action_zh, action_en, message in PLAYBOOKS:
        Playbook.objects.update_or_create(
            rfm_segment=segment,
            defaults={"action_zh": action_zh, "action_en": action_en, "default_message": message},
        )


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
