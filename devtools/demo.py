"""A realistic, deterministic demo brand: stores, staff, fans and two years of orders.

`generate_demo_brand(stores=, customers=, orders=, seed=, today=)` is what `seed_demo`, the demo
(`make run`) and every benchmark use. Everything is drawn from one `numpy.random.Generator`, so
the same arguments give the same rows (ids aside when the tables were not empty before).

What the data looks like, and why:
- stores in real Chinese cities (city-centre coordinates plus a few km), 3–6 guides and one
  manager each, one HQ user; all demo users share the password `DEMO_PASSWORD`;
- fans with Chinese names (a few rare characters such as 㛃 or 龘 and a few Latin names), unique
  valid mobiles, ~15 % lunar birthdays (leap months only where the year has one), ~8 % unknown
  birthdays, home coordinates within 3 km of the store, farther in the same city, only a city,
  nothing, or ~10 % in another city; referrers, a few opinion leaders, ~2 % do-not-contact;
- orders over the 730 days before `today`: a heavy-tailed count per fan (about two fifths have
  no order in those two years — never bought or lapsed earlier —, many buy once or twice, some
  dozens of times), each fan buying at their own rate within their own window of time,
  mid-priced amounts (median ≈ ¥620), more in spring, at 618, in November (Double 11) and
  December, more at weekends and in the evening; ~4 % refunds of an earlier sale of the same fan
  (full or partial, never more than the sale); external ids unique per store.

Writing: PostgreSQL gets `COPY ... FROM STDIN` in chunks from an in-memory CSV buffer, SQLite
(demo sizes) gets `executemany`. Ids are explicit and the sequences are reset afterwards. The
whole brand is written in one transaction: a failure leaves the database as it was.
"""

from __future__ import annotations

import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone
from lunardate import LunarDate
from tqdm import tqdm

from customers.facts import compute_fact_labels
from customers.models import Customer, Order, OrderItem, Staff, Store

DEMO_PASSWORD = "fanops-demo"
HISTORY_DAYS = 730
ITEMS_MAX_SALES = 100_000  # above this, orders get no line items (bulk speed; labels ignore items)
_COPY_CHUNK = 250_000
_SQLITE_BATCH = 5_000

# (city, latitude, longitude): city-centre coordinates.
CITIES = [
    ("上海", 31.230416, 121.473701),
    ("北京", 39.904200, 116.407396),
    ("杭州", 30.274085, 120.155070),
    ("南京", 32.060255, 118.796877),
    ("成都", 30.572815, 104.066801),
    ("广州", 23.129110, 113.264385),
    ("深圳", 22.543099, 114.057868),
    ("武汉", 30.592849, 114.305539),
    ("苏州", 31.298979, 120.585315),
    ("西安", 34.341568, 108.939840),
    ("长沙", 28.228209, 112.938814),
    ("重庆", 29.563010, 106.551557),
    ("青岛", 36.067108, 120.382639),
    ("厦门", 24.479834, 118.089425),
]
MALLS = [
    "万象城",
    "来福士",
    "大悦城",
    "银泰百货",
    "万达广场",
    "恒隆广场",
    "太古里",
    "新天地",
    "龙湖天街",
    "印象城",
]

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
) + ["欧阳", "上官", "司马", "诸葛"]
FEMALE_CHARS = list(
    "丽娜静敏燕艳芳婷雪琳慧洁颖晶欣怡佳悦然涵萱梓琪雨彤思梦可馨诗晓秀玲桂霞丹倩蕾薇婧妍璐瑶露蓉莉嘉璇妮"
)
MALE_CHARS = list(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳博文晨轩泽睿哲航子一"
)
RARE_CHARS = ["㛃", "龘", "䶮", "犇", "淼", "𠇔"]
LATIN_NAMES = [
    "Emma Wang",
    "Lucy Zhang",
    "Grace Li",
    "Vivian Chen",
    "Coco",
    "Amy Liu",
    "Kevin Zhou",
    "Tony Huang",
    "Sophia Lin",
    "Ivy Xu",
    "Anna Müller",
    "Chloé Martin",
]
MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        134,
        135,
        136,
        137,
        138,
        139,
        147,
        150,
        151,
        152,
        153,
        155,
        156,
        157,
        158,
        159,
        166,
        173,
        175,
        176,
        177,
        178,
        180,
        181,
        182,
        183,
        184,
        185,
        186,
        187,
        188,
        189,
        191,
        198,
        199,
    ],
    dtype=np.int64,
)
BODY_SHAPES = ["H型", "X型", "A型", "Y型", "O型", "梨形", "苹果形"]
SKIN_TONES = ["白皙", "自然", "小麦色", "偏黄", "偏黑"]
CONSUMPTION_NOTES = [
    "喜欢简约款，偏爱棉麻材质",
    "每季上新必看",
    "关注折扣，活动时集中购买",
    "常买连衣裙",
    "会给先生买衬衫",
    "喜欢亮色",
    "偏好宽松版型",
    "注重面料和做工",
    "上班通勤为主，需要正装",
    "周末带孩子，喜欢休闲款",
    "对尺码敏感，需提前留货",
    "喜欢搭配建议，信任导购",
]
COLOURS = ["黑色", "白色", "米色", "藏青", "酒红", "驼色", "灰色", "燕麦色", "雾霾蓝", "豆沙粉"]
TOP_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
CATALOGUE = [
    # (sku, name, category, typical price)
    ("TS1001", "纯棉圆领T恤", "上衣", 199),
    ("SH2003", "真丝衬衫", "上衣", 699),
    ("KN3002", "羊毛针织开衫", "针织", 899),
    ("KN3010", "羊绒高领毛衣", "针织", 1299),
    ("DR4001", "棉麻连衣裙", "连衣裙", 799),
    ("DR4007", "醋酸缎面长裙", "连衣裙", 1099),
    ("PT5001", "西装直筒裤", "裤装", 599),
    ("PT5004", "阔腿牛仔裤", "裤装", 459),
    ("SK5102", "半身百褶裙", "半裙", 529),
    ("CT6001", "双面羊毛大衣", "外套", 2299),
    ("CT6005", "短款西装外套", "外套", 1199),
    ("CT6010", "轻薄羽绒服", "外套", 999),
    ("AC7001", "真丝丝巾", "配饰", 299),
    ("AC7003", "牛皮腰带", "配饰", 259),
    ("AC7008", "羊绒围巾", "配饰", 399),
]


@dataclass
class DemoSummary:
    seed: int
    today: date
    stores: int
    guides: int
    managers: int
    customers: int
    sales: int
    refunds: int
    items: int
    seconds: float
    password: str = DEMO_PASSWORD
    logins: dict[str, str] = field(default_factory=dict)  # role -> username

    @property
    def orders(self) -> int:
        return self.sales + self.refunds


class _Progress:
    """Phases and row counts on stderr (tqdm), or nothing."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.monotonic()

    def note(self, text: str) -> None:
        if self.enabled:
            print(
                f"seed_demo [{time.monotonic() - self.started:5.1f} s] {text}",
                file=sys.stderr,
                flush=True,
            )

    def bar(self, total: int, desc: str):
        return tqdm(
            total=total,
            desc=desc,
            unit="rows",
            unit_scale=True,
            file=sys.stderr,
            disable=not self.enabled,
            leave=True,
        )


# --- generation helpers (pure numpy/pandas) -----------------------------------------------------


def _names(rng: np.random.Generator, gender: np.ndarray) -> np.ndarray:
    n = len(gender)
    surname_weights = 1.0 / (np.arange(len(SURNAMES)) + 4.0)
    surname_weights[-4:] *= 0.05  # compound surnames are rare
    surnames = np.array(SURNAMES, dtype=object)[
        rng.choice(len(SURNAMES), n, p=surname_weights / surname_weights.sum())
    ]
    female = np.array(FEMALE_CHARS, dtype=object)
    male = np.array(MALE_CHARS, dtype=object)
    both = np.concatenate([female, male])
    first = np.where(
        gender == "m",
        male[rng.integers(0, len(male), n)],
        np.where(
            gender == "f",
            female[rng.integers(0, len(female), n)],
            both[rng.integers(0, len(both), n)],
        ),
    )
    second = np.where(
        gender == "m",
        male[rng.integers(0, len(male), n)],
        np.where(
            gender == "f",
            female[rng.integers(0, len(female), n)],
            both[rng.integers(0, len(both), n)],
        ),
    )
    two_chars = rng.random(n) < 0.7
    rare = rng.random(n) < 0.003
    first = np.where(
        rare, np.array(RARE_CHARS, dtype=object)[rng.integers(0, len(RARE_CHARS), n)], first
    )
    names = surnames + first + np.where(two_chars, second, "")
    latin = rng.random(n) < 0.01
    return np.where(
        latin, np.array(LATIN_NAMES, dtype=object)[rng.integers(0, len(LATIN_NAMES), n)], names
    )


def _unique_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    numbers = MOBILE_PREFIXES[rng.integers(0, len(MOBILE_PREFIXES), n)] * 10**8 + rng.integers(
        0, 10**8, n
    )
    while True:
        dup = pd.Series(numbers).duplicated().to_numpy()
        if not dup.any():
            return numbers.astype(str)
        k = int(dup.sum())
        numbers[dup] = MOBILE_PREFIXES[
            rng.integers(0, len(MOBILE_PREFIXES), k)
        ] * 10**8 + rng.integers(0, 10**8, k)


def _lunar_tables(first_year: int, last_year: int) -> tuple[dict[int, int], np.ndarray]:
    """Leap month per year (only years that have one) and whether each month has a 30th day."""
    leap: dict[int, int] = {}
    has_30 = np.zeros((last_year - first_year + 1, 13, 2), dtype=bool)
    for year in range(first_year, last_year + 1):
        for month in range(1, 13):
            for is_leap in (False, True):
                try:
                    LunarDate(year, month, 1, is_leap).toSolarDate()
                except ValueError:
                    continue
                if is_leap:
                    leap[year] = month
                try:
                    LunarDate(year, month, 30, is_leap).toSolarDate()
                    has_30[year - first_year, month, int(is_leap)] = True
                except ValueError:
                    pass
    return leap, has_30


def _offset(lat: np.ndarray, lon: np.ndarray, km: np.ndarray, bearing: np.ndarray):
    # Small-distance approximation; 1° of latitude is 111.195 km on the SPEC's 6371.0088 km sphere.
    dlat = km * np.cos(bearing) / 111.195
    dlon = km * np.sin(bearing) / (111.195 * np.cos(np.radians(lat)))
    return np.round(lat + dlat, 6), np.round(lon + dlon, 6)


def _customers_frame(rng, n, *, store_rows, guides_by_store, today, first_id) -> pd.DataFrame:
    n_stores = len(store_rows)
    store_weights = rng.gamma(2.0, 1.0, n_stores)
    store_idx = rng.choice(n_stores, n, p=store_weights / store_weights.sum())
    store_ids = np.array([s["id"] for s in store_rows], dtype=np.int64)
    store_lat = np.array([s["lat"] for s in store_rows])
    store_lon = np.array([s["lon"] for s in store_rows])
    store_city = np.array([s["city_idx"] for s in store_rows])

    counts = np.array([len(g) for g in guides_by_store])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat_guides = np.concatenate([np.asarray(g, dtype=np.int64) for g in guides_by_store])
    pick = (rng.random(n) * counts[store_idx]).astype(np.int64)
    guide_id = pd.array(flat_guides[starts[store_idx] + pick], dtype="Int64")
    guide_id[rng.random(n) < 0.03] = pd.NA

    gender = rng.choice(np.array(["f", "m", ""], dtype=object), n, p=[0.78, 0.19, 0.03])
    frame = pd.DataFrame({"id": np.arange(first_id, first_id + n, dtype=np.int64)})
    frame["phone"] = _unique_mobiles(rng, n)
    frame["name"] = _names(rng, gender)
    frame["gender"] = gender
    frame["store_id"] = store_ids[store_idx]
    frame["guide_id"] = guide_id

    # Birthdays.
    kind = rng.random(n)
    unknown, lunar = kind < 0.08, (kind >= 0.08) & (kind < 0.23)
    gregorian = ~unknown & ~lunar
    year = np.clip(np.round(rng.normal(1988, 9, n)), 1950, 2007).astype(np.int64)
    is_leap_year = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    day_of_year = (rng.random(n) * (365 + is_leap_year)).astype(np.int64)
    solar = pd.DatetimeIndex(
        (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + day_of_year
    )
    month = solar.month.to_numpy().astype(np.int64)
    day = solar.day.to_numpy().astype(np.int64)
    year_known = rng.random(n) >= 0.05

    leap_years, has_30 = _lunar_tables(1950, 2007)
    lunar_month = rng.integers(1, 13, n)
    lunar_day = rng.integers(1, 31, n)
    lunar_year_known = rng.random(n) >= 0.25
    leap_pool = np.array(sorted(leap_years), dtype=np.int64)
    wants_leap = lunar & lunar_year_known & (rng.random(n) < 0.08)
    leap_year_pick = leap_pool[rng.integers(0, len(leap_pool), n)]
    leap_month_of = np.zeros(2100, dtype=np.int64)
    leap_month_of[leap_pool] = [leap_years[y] for y in leap_pool]
    year = np.where(wants_leap, leap_year_pick, year)
    lunar_month = np.where(wants_leap, leap_month_of[year], lunar_month)
    # A known lunar year: day 30 only where that month has one (leap month or not).
    valid_30 = has_30[
        np.clip(year - 1950, 0, has_30.shape[0] - 1), lunar_month, wants_leap.astype(np.int64)
    ]
    lunar_day = np.where(lunar & lunar_year_known & (lunar_day == 30) & ~valid_30, 29, lunar_day)

    frame["birth_calendar"] = np.where(unknown, "", np.where(lunar, "lunar", "gregorian"))
    birth_year = pd.array(year, dtype="Int64")
    birth_year[unknown | (gregorian & ~year_known) | (lunar & ~lunar_year_known)] = pd.NA
    frame["birth_year"] = birth_year
    birth_month = pd.array(np.where(lunar, lunar_month, month), dtype="Int64")
    birth_month[unknown] = pd.NA
    frame["birth_month"] = birth_month
    birth_day = pd.array(np.where(lunar, lunar_day, day), dtype="Int64")
    birth_day[unknown] = pd.NA
    frame["birth_day"] = birth_day
    frame["birth_is_leap_month"] = wants_leap

    # Home: near the store, farther in the same city, only the city, nothing, or another city.
    where = rng.random(n)
    out_of_town = where < 0.10
    near = (where >= 0.10) & (where < 0.50)
    far = (where >= 0.50) & (where < 0.78)
    city_only = (where >= 0.78) & (where < 0.93)
    n_cities = len(CITIES)
    other_city = (store_city[store_idx] + 1 + rng.integers(0, n_cities - 1, n)) % n_cities
    home_city = np.where(out_of_town, other_city, store_city[store_idx])
    city_names = np.array([c[0] for c in CITIES], dtype=object)
    frame["city"] = np.where(out_of_town | near | far | city_only, city_names[home_city], "")
    km = np.where(
        near,
        2.8 * np.sqrt(rng.random(n)),
        np.where(far, 3.5 + 22 * rng.random(n), 15 * rng.random(n)),
    )
    base_lat = np.where(
        out_of_town, np.array([c[1] for c in CITIES])[home_city], store_lat[store_idx]
    )
    base_lon = np.where(
        out_of_town, np.array([c[2] for c in CITIES])[home_city], store_lon[store_idx]
    )
    lat, lon = _offset(base_lat, base_lon, km, rng.random(n) * 2 * np.pi)
    has_coords = near | far | (out_of_town & (rng.random(n) < 0.6))
    frame["latitude"] = np.where(has_coords, lat, np.nan)
    frame["longitude"] = np.where(has_coords, lon, np.nan)

    # Referrer: an earlier fan.
    index = np.arange(n)
    referred = (rng.random(n) < 0.12) & (index > 0)
    referrer = pd.array(first_id + (rng.random(n) * index).astype(np.int64), dtype="Int64")
    referrer[~referred] = pd.NA
    frame["referrer_id"] = referrer
    frame["is_opinion_leader"] = rng.random(n) < 0.003
    frame["do_not_contact"] = rng.random(n) < 0.02

    # Profile, partly filled (seed 000's five required fields first).
    filled = rng.random(n) < 0.45
    male = gender == "m"
    notes = np.array(CONSUMPTION_NOTES, dtype=object)
    frame["consumption_notes"] = np.where(filled, notes[rng.integers(0, len(notes), n)], "")
    frame["body_shape"] = np.where(
        filled, np.array(BODY_SHAPES, dtype=object)[rng.integers(0, len(BODY_SHAPES), n)], ""
    )
    height = np.clip(
        np.round(np.where(male, rng.normal(175, 6, n), rng.normal(162, 5.5, n))), 145, 198
    )
    frame["height_cm"] = pd.array(np.where(filled, height, np.nan), dtype="Float64").astype("Int64")
    frame["skin_tone"] = np.where(
        filled, np.array(SKIN_TONES, dtype=object)[rng.integers(0, len(SKIN_TONES), n)], ""
    )
    weighed = filled & (rng.random(n) < 0.45)
    weight = np.round(
        np.clip(np.where(male, rng.normal(70, 9, n), rng.normal(54, 7, n)), 38, 130), 1
    )
    frame["weight_kg"] = np.where(weighed, weight, np.nan)
    sized = filled & (rng.random(n) < 0.8)
    size_idx = np.clip(np.round((height - 150) / 9 + rng.normal(0, 0.7, n)), 0, 5).astype(np.int64)
    frame["top_size"] = np.where(sized, np.array(TOP_SIZES, dtype=object)[size_idx], "")
    frame["bottom_size"] = np.where(sized, (25 + size_idx + rng.integers(0, 3, n)).astype(str), "")
    shoe = np.where(male, rng.integers(39, 45, n), rng.integers(35, 40, n))
    frame["shoe_size"] = np.where(sized, shoe.astype(str), "")
    colours = np.array(COLOURS, dtype=object)
    two = rng.random(n) < 0.5
    frame["favourite_colours"] = np.where(
        filled & (rng.random(n) < 0.6),
        colours[rng.integers(0, len(colours), n)]
        + np.where(two, "、" + colours[rng.integers(0, len(colours), n)], ""),
        "",
    )
    frame["notes"] = ""

    # Member-card date: most fans have one, within the last six years.
    carded = rng.random(n) < 0.75
    since = np.datetime64(today) - rng.integers(1, 6 * 365, n).astype("timedelta64[D]")
    frame["member_since"] = np.where(carded, since.astype(str), None)
    return frame


def _day_weights(today: date) -> np.ndarray:
    """Relative order volume on each of the HISTORY_DAYS days before `today`."""
    days = pd.date_range(
        end=pd.Timestamp(today) - pd.Timedelta(days=1), periods=HISTORY_DAYS, freq="D"
    )
    month_factor = np.array([0, 0.95, 0.8, 1.2, 1.25, 1.1, 1.05, 0.8, 0.8, 1.0, 1.1, 1.5, 1.4])
    weights = month_factor[days.month] * np.where(days.dayofweek >= 5, 1.3, 1.0)
    md = days.month * 100 + days.day
    weights = weights * np.where(np.isin(md, [1111, 1212, 618, 1224, 1225]), 3.0, 1.0)
    weights = weights * np.where((md >= 1101) & (md <= 1111), 1.6, 1.0)  # Double 11 run-up
    weights = weights * np.linspace(0.88, 1.12, HISTORY_DAYS)  # the brand is growing
    return weights


def _orders_frames(
    rng,
    *,
    customers: pd.DataFrame,
    orders: int,
    today: date,
    store_ids: np.ndarray,
    store_codes: dict[int, str],
    first_id: int,
):
    n_fans = len(customers)
    n_refunds = int(round(orders * 0.04)) if n_fans else 0
    n_sales = orders - n_refunds if n_fans else 0
    if n_sales == 0:
        return pd.DataFrame(), None

    # Each fan buys within a window that may have started before the history (and may have
    # ended before it: a lapsed fan); half are still active. A fan's propensity is a rate, so
    # a fan who joined last month has had a month to buy: volume stays level over the years.
    virtual_start = rng.integers(-HISTORY_DAYS, HISTORY_DAYS, n_fans)
    end = np.where(
        rng.random(n_fans) < 0.5,
        HISTORY_DAYS - 1,
        virtual_start + (rng.random(n_fans) * (HISTORY_DAYS - virtual_start)).astype(np.int64),
    )
    start = np.maximum(virtual_start, 0)
    days_inside = np.maximum(end - start + 1, 0)

    # Heavy tail: lognormal rate, some never buy, the top percent capped.
    propensity = rng.lognormal(0.0, 1.6, n_fans)
    propensity[rng.random(n_fans) < 0.08] = 0.0
    propensity = np.minimum(propensity, np.quantile(propensity, 0.99)) * days_inside
    per_fan = rng.multinomial(n_sales, propensity / propensity.sum())

    fan = np.repeat(np.arange(n_fans), per_fan)
    cdf = np.cumsum(_day_weights(today))
    cdf = cdf / cdf[-1]
    lo = np.where(start[fan] > 0, cdf[np.maximum(start[fan] - 1, 0)], 0.0)
    hi = cdf[end[fan]]
    day = np.searchsorted(cdf, lo + rng.random(len(fan)) * (hi - lo), side="right")
    day = np.clip(day, start[fan], end[fan])

    hour_weights = np.array([3, 5, 6, 6, 7, 8, 8, 8, 9, 10, 9, 5], dtype=float)  # 10:00 .. 21:59
    hour = 10 + rng.choice(12, len(fan), p=hour_weights / hour_weights.sum())
    seconds = hour * 3600 + rng.integers(0, 3600, len(fan))
    first_day = np.datetime64(today - timedelta(days=HISTORY_DAYS))
    local = first_day + day.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    paid_at = _to_utc(local)

    fan_store = customers["store_id"].to_numpy()[fan]
    elsewhere = rng.random(len(fan)) < 0.04
    store = np.where(elsewhere, store_ids[rng.integers(0, len(store_ids), len(fan))], fan_store)
    guide = customers["guide_id"].to_numpy(dtype="float64", na_value=np.nan)[fan]
    guide = np.where(store == fan_store, guide, np.nan)

    amount = np.clip(rng.lognormal(np.log(620), 0.55, len(fan)), 29, 30_000)
    amount = np.where(rng.random(len(fan)) < 0.6, np.round(amount), np.round(amount, 2))
    method = rng.choice(
        np.array(["ewallet", "card", "cash", "other"], dtype=object),
        len(fan),
        p=[0.62, 0.25, 0.09, 0.04],
    )
    channel = rng.choice(np.array(["pos", "online"], dtype=object), len(fan), p=[0.93, 0.07])

    # Refunds: an earlier sale of the same fan, within two weeks, never more than the sale.
    sale_idx = (
        rng.choice(n_sales, n_refunds, replace=False) if n_refunds else np.array([], dtype=np.int64)
    )
    delay = (1800 + rng.random(n_refunds) * 14 * 86400).astype("timedelta64[s]")
    last_moment = _to_utc(np.array([np.datetime64(today) - np.timedelta64(1, "s")]))[0]
    refund_at = np.minimum(paid_at[sale_idx] + delay, last_moment)
    refund_at = np.maximum(refund_at, paid_at[sale_idx])
    full = rng.random(n_refunds) < 0.7
    refund_amount = np.where(
        full,
        amount[sale_idx],
        np.floor(amount[sale_idx] * (0.3 + 0.65 * rng.random(n_refunds)) * 100) / 100,
    )

    paid_all = np.concatenate([paid_at, refund_at])
    is_refund = np.concatenate([np.zeros(n_sales, bool), np.ones(n_refunds, bool)])
    # Ids follow time (sales before their refunds at equal times), as a POS feed would.
    order = np.lexsort((is_refund, paid_all))
    source = np.concatenate([np.arange(n_sales), sale_idx])[order]  # the sale a row is or refunds
    is_refund = is_refund[order]
    ids = np.arange(first_id, first_id + len(order), dtype=np.int64)
    id_of_sale = np.empty(n_sales, dtype=np.int64)
    id_of_sale[source[~is_refund]] = ids[~is_refund]
    refund_of = pd.array(id_of_sale[source], dtype="Int64")
    refund_of[~is_refund] = pd.NA
    store_all = np.concatenate([store, store[sale_idx]])[order]
    guide_all = np.concatenate([guide, guide[sale_idx]])[order]
    paid_all = paid_all[order]
    frame = pd.DataFrame(
        {
            "id": ids,
            "paid_at": paid_all,
            "created_at": paid_all,
            "updated_at": paid_all,
            "customer_id": customers["id"].to_numpy()[np.concatenate([fan, fan[sale_idx]])][order],
            "store_id": store_all,
            "guide_id": pd.array(guide_all, dtype="Float64").astype("Int64"),
            "amount": np.concatenate([amount, refund_amount])[order],
            "payment_method": np.concatenate([method, method[sale_idx]])[order],
            "channel": np.concatenate([channel, channel[sale_idx]])[order],
            "refund_of_id": refund_of,
            "kind": np.where(is_refund, "refund", "sale"),
        }
    )
    # External ids: the store's code and its own running number.
    sequence = pd.Series(store_all).groupby(store_all, sort=False).cumcount().to_numpy() + 1
    codes = pd.Series(store_codes)
    frame["external_id"] = (
        codes.reindex(store_all).to_numpy() + "-" + sequence.astype(str).astype(object)
    )

    items = None
    if n_sales <= ITEMS_MAX_SALES:
        items = _items_frame(rng, frame[~is_refund])
    return frame, items


def _items_frame(rng, sales: pd.DataFrame) -> pd.DataFrame:
    k = rng.choice([1, 2, 3], len(sales), p=[0.55, 0.3, 0.15])
    order_id = np.repeat(sales["id"].to_numpy(), k)
    amount = np.repeat(sales["amount"].to_numpy(), k)
    product = rng.integers(0, len(CATALOGUE), len(order_id))
    share = rng.gamma(2.0, 1.0, len(order_id)) * np.array([c[3] for c in CATALOGUE])[product]
    group_start = np.concatenate([[0], np.cumsum(k)[:-1]])
    share = share / np.repeat(np.add.reduceat(share, group_start), k)
    price = np.floor(amount * share * 100) / 100
    # The last item of an order takes the rounding remainder, so items sum to the order amount.
    last = np.cumsum(k) - 1
    price[last] += np.round(sales["amount"].to_numpy() - np.add.reduceat(price, group_start), 2)
    return pd.DataFrame(
        {
            "order_id": order_id,
            "sku": np.array([c[0] for c in CATALOGUE], dtype=object)[product],
            "name": np.array([c[1] for c in CATALOGUE], dtype=object)[product],
            "category": np.array([c[2] for c in CATALOGUE], dtype=object)[product],
            "quantity": 1,
            "unit_price": np.round(price, 2),
            "is_new_arrival": rng.random(len(order_id)) < 0.3,
        }
    )


def _to_utc(local: np.ndarray) -> np.ndarray:
    """Naive local datetime64 (TIME_ZONE) → naive UTC datetime64[s]."""
    index = pd.DatetimeIndex(local).tz_localize(
        settings.TIME_ZONE, ambiguous=np.zeros(len(local), dtype=bool), nonexistent="shift_forward"
    )
    return index.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]")


# --- writing -------------------------------------------------------------------------------------


def _columns(model: type[models.Model], frame: pd.DataFrame) -> list[str]:
    """The model's columns; ones the frame lacks are filled with the field default."""
    columns = []
    for f in model._meta.concrete_fields:
        if f.primary_key and f.column not in frame.columns:
            continue  # the sequence numbers the rows
        if f.column not in frame.columns:
            if f.has_default():
                frame[f.column] = f.get_default()
            elif f.null:
                frame[f.column] = None
            else:
                frame[f.column] = "" if isinstance(f, models.CharField | models.TextField) else None
        columns.append(f.column)
    return columns


def _text_datetimes(frame: pd.DataFrame, vendor: str) -> None:
    for name in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[name].dtype):
            text = np.datetime_as_string(frame[name].to_numpy().astype("datetime64[s]"), unit="s")
            frame[name] = text if vendor == "postgresql" else np.char.replace(text, "T", " ")


def _write(
    model: type[models.Model], frame: pd.DataFrame, progress: _Progress, *, float_format: str
) -> None:
    if frame.empty:
        return
    frame = frame.copy()
    columns = _columns(model, frame)
    table = connection.ops.quote_name(model._meta.db_table)
    vendor = connection.vendor
    with progress.bar(len(frame), model._meta.model_name) as bar, connection.cursor() as cursor:
        if vendor == "postgresql":
            sql = (
                f"COPY {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) "
                "FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            )
            raw = cursor.cursor  # the psycopg2 cursor behind Django's wrapper

            def csv_chunk(start: int) -> tuple[io.StringIO, int]:
                chunk = frame.iloc[start : start + _COPY_CHUNK][columns].copy()
                _text_datetimes(chunk, vendor)
                buffer = io.StringIO()
                chunk.to_csv(
                    buffer, header=False, index=False, na_rep="\\N", float_format=float_format
                )
                buffer.seek(0)
                return buffer, len(chunk)

            # Format the next chunk in a thread while PostgreSQL ingests this one (psycopg2
            # releases the GIL while it sends): Python and the server work side by side.
            starts = list(range(0, len(frame), _COPY_CHUNK))
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(csv_chunk, starts[0])
                for following in [*starts[1:], None]:
                    buffer, rows = pending.result()
                    if following is not None:
                        pending = pool.submit(csv_chunk, following)
                    raw.copy_expert(sql, buffer, size=1 << 20)
                    bar.update(rows)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({', '.join(connection.ops.quote_name(c) for c in columns)}) VALUES ({placeholders})"
            for start in range(0, len(frame), _SQLITE_BATCH):
                chunk = frame.iloc[start : start + _SQLITE_BATCH][columns].copy()
                _text_datetimes(chunk, vendor)
                chunk = chunk.astype(object).where(chunk.notna(), None)
                cursor.executemany(sql, list(chunk.itertuples(index=False, name=None)))
                bar.update(len(chunk))


@contextmanager
def _bulk_load(model: type[models.Model], progress: _Progress):
    """On PostgreSQL: drop the table's foreign keys, unique constraints and secondary indexes,
    let the caller COPY, then build them again (one sort per index, one anti-join per foreign
    key: ~10x faster than maintaining them row by row). Inside the caller's transaction, so a
    failure restores everything; the table is locked meanwhile (seeding only)."""
    if connection.vendor != "postgresql":
        yield
        return
    table = model._meta.db_table
    with connection.cursor() as cursor:
        # Run the foreign-key checks still queued for this transaction now: PostgreSQL refuses to
        # alter a table with pending trigger events. Django's default (deferred) comes back below.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC, conname",
            [table],
        )
        constraints = cursor.fetchall()  # unique first, so foreign keys find their index again
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
            "AND c.conrelid = i.indrelid) ORDER BY 1",
            [table],
        )
        indexes = cursor.fetchall()
        quoted = connection.ops.quote_name(table)
        for name, _ in reversed(constraints):
            cursor.execute(
                f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(name)}"
            )
        for name, _ in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    progress.note(
        f"rebuilding {len(indexes)} indexes and {len(constraints)} constraints of {table}"
    )
    with connection.cursor() as cursor:
        for _, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(
                f"ALTER TABLE {quoted} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}"
            )
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1


# --- the brand -----------------------------------------------------------------------------------


def _create_stores_and_staff(rng, n_stores: int, progress: _Progress):
    now = timezone.now()
    stores = []
    for i in range(n_stores):
        city, lat, lon = CITIES[i % len(CITIES)]
        mall = MALLS[(i // len(CITIES) + i) % len(MALLS)]
        km, bearing = 6 * np.sqrt(rng.random()), rng.random() * 2 * np.pi
        s_lat, s_lon = _offset(
            np.array([lat]), np.array([lon]), np.array([km]), np.array([bearing])
        )
        stores.append(
            Store(
                code=f"S{i + 1:03d}",
                name=f"{city}{mall}店",
                city=city,
                address=f"{city}市{mall}{int(rng.integers(1, 5))}层{int(rng.integers(1, 60)):02d}号",
                latitude=f"{s_lat[0]:.6f}",
                longitude=f"{s_lon[0]:.6f}",
                created_at=now,
                updated_at=now,
            )
        )
    Store.objects.bulk_create(stores)
    stores = list(Store.objects.filter(code__in=[s.code for s in stores]).order_by("code"))

    # One hash for every demo user: hashing is deliberately slow (~0.3 s each).
    password = make_password(DEMO_PASSWORD)
    User = get_user_model()
    guide_counts = rng.integers(3, 7, n_stores)
    specs = [("hq", "HQ001", Staff.Role.HQ, None, "总部运营")]
    staff_names = _names(
        rng, np.array(["f"] * (int(guide_counts.sum()) + 2 * n_stores), dtype=object)
    )
    name_iter = iter(staff_names)
    for store, k in zip(stores, guide_counts, strict=True):
        code = store.code.lower()
        specs.append(
            (f"{code}.mgr", f"{store.code}M01", Staff.Role.MANAGER, store, next(name_iter))
        )
        for j in range(1, int(k) + 1):
            specs.append(
                (f"{code}.g{j}", f"{store.code}G{j:02d}", Staff.Role.GUIDE, store, next(name_iter))
            )
    users = User.objects.bulk_create(
        [
            User(
                username=u,
                password=password,
                is_staff=role == Staff.Role.HQ,
                is_superuser=role == Staff.Role.HQ,
            )
            for u, _, role, _, _ in specs
        ]
    )
    users = {u.username: u for u in User.objects.filter(username__in=[s[0] for s in specs])}
    Staff.objects.bulk_create(
        [
            Staff(
                user=users[u],
                work_number=w,
                role=role,
                store=store,
                name=name,
                created_at=now,
                updated_at=now,
            )
            for u, w, role, store, name in specs
        ]
    )
    progress.note(f"{len(stores)} stores, {len(specs)} staff")
    return stores, specs


def generate_demo_brand(
    *,
    stores: int = 6,
    customers: int = 3000,
    orders: int = 20000,
    seed: int = 7,
    today: date | None = None,
    progress: bool = True,
    fact_labels: bool = True,
) -> DemoSummary:
    """Write a demo brand in one transaction and return what was written.

    Deterministic for (`stores`, `customers`, `orders`, `seed`, `today`). Expects no store codes
    S001… to exist yet (the caller checks). `orders` counts sales and refunds together.
    `fact_labels=False` leaves zodiac, birthday month and distance empty (the relabel job or
    `customers.facts.refresh_fact_labels()` fills them).
    """
    if stores < 1:
        raise ValueError("stores must be at least 1")
    started = time.monotonic()
    today = today or timezone.localdate()
    rng = np.random.default_rng(seed)
    out = _Progress(progress)
    with transaction.atomic():
        store_objs, specs = _create_stores_and_staff(rng, stores, out)
        store_rows = [
            {
                "id": s.id,
                "lat": float(s.latitude),
                "lon": float(s.longitude),
                "city_idx": [c[0] for c in CITIES].index(s.city),
            }
            for s in store_objs
        ]
        staff = Staff.objects.filter(store__in=store_objs, role=Staff.Role.GUIDE).order_by(
            "work_number"
        )
        guides_by_store: dict[int, list[int]] = {s.id: [] for s in store_objs}
        for member in staff:
            guides_by_store[member.store_id].append(member.id)

        out.note(f"generating {customers:,} fans")
        fans = (
            _customers_frame(
                rng,
                customers,
                store_rows=store_rows,
                guides_by_store=[guides_by_store[s.id] for s in store_objs],
                today=today,
                first_id=_next_id(Customer),
            )
            if customers
            else pd.DataFrame()
        )
        now = np.datetime64(timezone.now().replace(tzinfo=None), "s")
        if customers:
            fans["created_at"] = now
            fans["updated_at"] = now
            if fact_labels:
                _add_fact_labels(fans, store_rows, out)
        # Referrers point at earlier fans: the COPY order satisfies the foreign key as it goes.
        with _bulk_load(Customer, out):
            _write(Customer, fans, out, float_format="%.6f")

        out.note(f"generating {orders:,} orders")
        order_frame, items = _orders_frames(
            rng,
            customers=fans,
            orders=orders if customers else 0,
            today=today,
            store_ids=np.array([s.id for s in store_objs], dtype=np.int64),
            store_codes={s.id: s.code for s in store_objs},
            first_id=_next_id(Order),
        )
        out.note(f"writing {len(order_frame):,} orders")
        with _bulk_load(Order, out):
            _write(Order, order_frame, out, float_format="%.2f")
        if items is not None:
            _write(OrderItem, items, out, float_format="%.2f")

        out.note("resetting sequences, committing")
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(
                no_style(), [Store, Staff, Customer, Order, OrderItem]
            ):
                cursor.execute(sql)

    out.note("done")
    n_refunds = int((order_frame["kind"] == "refund").sum()) if len(order_frame) else 0
    first_store = store_objs[0].code.lower()
    return DemoSummary(
        seed=seed,
        today=today,
        stores=len(store_objs),
        guides=sum(1 for s in specs if s[2] == Staff.Role.GUIDE),
        managers=sum(1 for s in specs if s[2] == Staff.Role.MANAGER),
        customers=customers,
        sales=len(order_frame) - n_refunds,
        refunds=n_refunds,
        items=0 if items is None else len(items),
        seconds=round(time.monotonic() - started, 1),
        logins={"guide": f"{first_store}.g1", "manager": f"{first_store}.mgr", "hq": "hq"},
    )


def _add_fact_labels(fans: pd.DataFrame, store_rows: list[dict], out: _Progress) -> None:
    """Zodiac, birthday month and distance by the fan-facts rules (`customers.facts`, vectorised),
    written with the fans (no second pass over the table)."""
    out.note("computing fact labels (zodiac, birthday month, distance)")
    by_id = {s["id"]: s for s in store_rows}
    city_names = [c[0] for c in CITIES]
    store_id = fans["store_id"].to_numpy()

    def number(column: str) -> np.ndarray:
        return pd.array(fans[column], dtype="Float64").to_numpy(dtype=float, na_value=np.nan)

    frame = pd.DataFrame(
        {
            "birth_calendar": fans["birth_calendar"].astype(str),
            "birth_year": number("birth_year"),
            "birth_month": number("birth_month"),
            "birth_day": number("birth_day"),
            "birth_is_leap_month": fans["birth_is_leap_month"].astype(int),
            "city": fans["city"].astype(str),
            "latitude": number("latitude"),
            "longitude": number("longitude"),
            "store_city": pd.Series(store_id)
            .map({i: city_names[r["city_idx"]] for i, r in by_id.items()})
            .to_numpy(),
            "store_latitude": pd.Series(store_id)
            .map({i: r["lat"] for i, r in by_id.items()})
            .to_numpy(),
            "store_longitude": pd.Series(store_id)
            .map({i: r["lon"] for i, r in by_id.items()})
            .to_numpy(),
        },
        index=fans.index,
    )
    labels = compute_fact_labels(frame)
    for column in ("zodiac", "birthday_month", "distance"):
        fans[column] = labels[column].to_numpy()
