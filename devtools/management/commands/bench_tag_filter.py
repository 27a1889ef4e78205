"""`python manage.py bench_tag_filter [--fans N] [--generate] [--tag group:code ...]` (PostgreSQL).

Times `tagging.selectors.filter_customers_by_tags` on a large database and prints the
EXPLAIN ANALYZE plans. By default the filter is three tags — one manual, two computed:
`style:business`, `apple:red`, `zodiac:leo` — asked three ways: the HQ count over all fans, the
first page (50 fans by id) over all fans, and the first page of one store.

`--generate` first fills the database up to N fans with `generate_series` (20 stores, a
CustomerLabels row per fan, random birthdays with their zodiac, ~2 manual tags per fan). Use a
scratch database: `DATABASE_URL=postgres://…/fanops_c python manage.py migrate` first.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from customers.models import Customer, CustomerLabels, Store
from tagging.models import Tag
from tagging.selectors import filter_customers_by_tags

DEFAULT_TAGS = ["style:business", "apple:red", "zodiac:leo"]
BENCH_STORES = 20


def _customer_insert_sql(first: int, count: int, store_ids: list[int]) -> tuple[str, list[Any]]:
    """INSERT … SELECT generate_series for every concrete Customer column (defaults for the rest)."""
    special = {
        "id": "g",
        "created_at": "now()",
        "updated_at": "now()",
        "phone": "'15' || lpad(g::text, 9, '0')",
        "name": "'粉丝' || g",
        "store_id": f"(ARRAY[{','.join(str(int(i)) for i in store_ids)}]::bigint[])[1 + g %% {len(store_ids)}]",
        "birth_calendar": "CASE WHEN g %% 12 = 0 THEN '' ELSE 'gregorian' END",
        "birth_month": "CASE WHEN g %% 12 = 0 THEN NULL ELSE 1 + floor(random() * 12)::int END",
        "birth_day": "CASE WHEN g %% 12 = 0 THEN NULL ELSE 1 + floor(random() * 28)::int END",
        "birth_year": "1960 + g %% 45",
        "city": "CASE WHEN g %% 10 = 0 THEN '上海' ELSE '杭州' END",
        "distance": "(ARRAY['within_3km','beyond_3km','same_city','out_of_town'])[1 + floor(random() * 4)::int]",
        "birth_is_leap_month": "false",
        "is_opinion_leader": "g %% 500 = 0",
        "do_not_contact": "false",
    }
    columns, exprs = [], []
    for f in Customer._meta.concrete_fields:
        columns.append(f.column)
        if f.column in special:
            exprs.append(special[f.column])
        elif f.null:
            exprs.append("NULL")
        elif isinstance(f, models.BooleanField):
            exprs.append("false")
        else:
            exprs.append("''")
    sql = (
        f"INSERT INTO customers_customer ({', '.join(columns)}) "
        f"SELECT {', '.join(exprs)} FROM generate_series(%s, %s) AS g"
    )
    return sql, [first, first + count - 1]


ZODIAC_SQL = """
UPDATE customers_customer SET zodiac = CASE
  WHEN birth_month IS NULL THEN ''
  WHEN (birth_month * 100 + birth_day) < 120 THEN 'capricorn'
  WHEN (birth_month * 100 + birth_day) < 219 THEN 'aquarius'
  WHEN (birth_month * 100 + birth_day) < 321 THEN 'pisces'
  WHEN (birth_month * 100 + birth_day) < 420 THEN 'aries'
  WHEN (birth_month * 100 + birth_day) < 521 THEN 'taurus'
  WHEN (birth_month * 100 + birth_day) < 622 THEN 'gemini'
  WHEN (birth_month * 100 + birth_day) < 723 THEN 'cancer'
  WHEN (birth_month * 100 + birth_day) < 823 THEN 'leo'
  WHEN (birth_month * 100 + birth_day) < 923 THEN 'virgo'
  WHEN (birth_month * 100 + birth_day) < 1024 THEN 'libra'
  WHEN (birth_month * 100 + birth_day) < 1123 THEN 'scorpio'
  WHEN (birth_month * 100 + birth_day) < 1222 THEN 'sagittarius'
  ELSE 'capricorn' END,
  birthday_month = CASE WHEN birth_month IS NULL THEN '' ELSE 'm' || lpad(birth_month::text, 2, '0') END
WHERE id BETWEEN %s AND %s
"""


class Command(BaseCommand):
    help = "Time filtering fans by tags on PostgreSQL (one manual and two computed by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fans", type=int, default=1_000_000, help="fans to have (with --generate)"
        )
        parser.add_argument(
            "--generate", action="store_true", help="fill up to --fans with synthetic fans"
        )
        parser.add_argument(
            "--tag", action="append", dest="tags", help="group:code (repeat); all must match"
        )
        parser.add_argument("--repeat", type=int, default=5)
        parser.add_argument("--no-explain", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("bench_tag_filter runs on PostgreSQL (set DATABASE_URL).")
        if options["generate"]:
            self.generate(options["fans"])
        tags = options["tags"] or DEFAULT_TAGS
        total = Customer.objects.count()
        self.stdout.write(f"{total:,} fans; filter all_of={tags}")
        store = Store.objects.order_by("id").first()
        queries = {
            "count over all fans": lambda: filter_customers_by_tags(
                Customer.objects.all(), all_of=tags
            ).count(),
            "first page (50) over all fans": lambda: list(
                filter_customers_by_tags(Customer.objects.all(), all_of=tags)
                .order_by("id")
                .values_list("id")[:50]
            ),
            "first page (50) of one store": lambda: list(
                filter_customers_by_tags(Customer.objects.filter(store=store), all_of=tags)
                .order_by("id")
                .values_list("id")[:50]
            ),
        }
        for label, run in queries.items():
            result = run()  # warm the cache
            seconds = []
            for _ in range(options["repeat"]):
                start = time.perf_counter()
                run()
                seconds.append(time.perf_counter() - start)
            size = result if isinstance(result, int) else len(result)
            self.stdout.write(
                f"{label}: {size:,} rows, median {statistics.median(seconds) * 1000:.1f} ms "
                f"(min {min(seconds) * 1000:.1f}, max {max(seconds) * 1000:.1f}) over {options['repeat']} runs"
            )
        if not options["no_explain"]:
            qs = (
                filter_customers_by_tags(Customer.objects.all(), all_of=tags)
                .order_by("id")
                .values("id")
            )
            for label, queryset in (("count", qs.order_by()), ("first page", qs[:50])):
                sql, params = queryset.query.sql_with_params()
                if label == "count":
                    sql = f"SELECT count(*) FROM ({sql}) AS sub"
                with connection.cursor() as cur:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    plan = "\n".join(row[0] for row in cur.fetchall())
                self.stdout.write(f"\nEXPLAIN ANALYZE ({label}):\n{plan}")

    def generate(self, fans: int) -> None:
        have = Customer.objects.count()
        if have >= fans:
            self.stdout.write(f"{have:,} fans already; nothing generated.")
            return
        started = time.perf_counter()
        with transaction.atomic():
            store_ids = []
            for i in range(BENCH_STORES):
                bench_store, _ = Store.objects.get_or_create(
                    code=f"BENCH{i:03d}",
                    defaults={
                        "name": f"基准门店{i}",
                        "city": "杭州",
                        "latitude": 30.27,
                        "longitude": 120.15,
                    },
                )
                store_ids.append(bench_store.id)
            first = (Customer.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1
            count = fans - have
            sql, params = _customer_insert_sql(first, count, store_ids)
            last = first + count - 1
            apples = "(ARRAY['blossom','green','green','yellow','red','golden'])[1 + floor(random() * 6)::int]"
            stages = "(ARRAY['','active','sleeping','pre_churn','churned'])[1 + floor(random() * 5)::int]"
            tag_ids = dict(
                Tag.objects.filter(
                    group__code__in=["style", "profession", "attention"]
                ).values_list("code", "id")
            )
            styles = [
                tag_ids[c]
                for c in ("business", "sport_fashion", "cotton_linen_art", "urban_nature")
            ]
            professions = [tag_ids[c] for c in ("white_collar", "teacher", "it", "bank", "student")]
            with connection.cursor() as cur:
                cur.execute("SELECT setseed(0.42)")  # the same data every time
                cur.execute(sql, params)
                cur.execute(ZODIAC_SQL, [first, last])
                label_cols = [f.column for f in CustomerLabels._meta.concrete_fields]
                values = {
                    "customer_id": "g",
                    "apple": apples,
                    "r_stage": stages,
                    "frequency": "g %% 5",
                    "monetary": "(g %% 9000)::numeric",
                    "lifetime_sales": "g %% 7",
                }
                exprs = [
                    values.get(
                        c,
                        "NULL" if c in ("first_sale", "last_sale", "remark_key") else "''",
                    )
                    for c in label_cols
                ]
                cur.execute(
                    f"INSERT INTO segmentation_customerlabels ({', '.join(label_cols)}) "
                    f"SELECT {', '.join(exprs)} FROM generate_series(%s, %s) AS g",
                    [first, last],
                )
                # ~40 % a style (a quarter of them business), ~70 % a profession, 20 % both attentions.
                cur.execute(
                    "INSERT INTO tagging_customertag (customer_id, tag_id, tagged_at) "
                    "SELECT g, (%s::bigint[])[1 + floor(random() * 4)::int], now() FROM generate_series(%s, %s) AS g WHERE random() < 0.4 "
                    "UNION ALL SELECT g, (%s::bigint[])[1 + floor(random() * 5)::int], now() "
                    "FROM generate_series(%s, %s) AS g WHERE random() < 0.7 "
                    "UNION ALL SELECT g, %s, now() FROM generate_series(%s, %s) AS g WHERE random() < 0.2",
                    [
                        styles,
                        first,
                        last,
                        professions,
                        first,
                        last,
                        tag_ids["new_arrivals"],
                        first,
                        last,
                    ],
                )
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), %s)", [last]
                )
        with connection.cursor() as cur:
            for table in (
                "customers_customer",
                "segmentation_customerlabels",
                "tagging_customertag",
            ):
                cur.execute(f"ANALYZE {table}")
        self.stdout.write(
            f"generated {fans - have:,} fans in {time.perf_counter() - started:.1f} s"
        )
