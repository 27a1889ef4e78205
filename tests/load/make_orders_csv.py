"""Write a synthetic historical-orders CSV for `import_orders` benchmarks.

python tests/load/make_orders_csv.py --orders 1000000 --fans 200000 --stores S001,S002 > orders.csv
"""

import argparse
import csv
import random
import sys
from datetime import datetime, timedelta, timezone


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--fans", type=int, default=200_000)
    parser.add_argument("--stores", default="S001")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    stores = args.stores.split(",")
    tz = timezone(timedelta(hours=8))
    start = datetime(2024, 1, 1, 10, tzinfo=tz)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(
        [
            "external_id",
            "store",
            "phone",
            "guide",
            "paid_at",
            "amount",
            "kind",
            "refund_of",
            "payment_method",
        ]
    )
    methods = ["card", "ewallet", "cash", "other"]
    for n in range(args.orders):
        fan = rng.randrange(args.fans)
        store = stores[fan % len(stores)]
        paid = start + timedelta(minutes=rng.randrange(700 * 24 * 60))
        amount = f"{rng.randrange(5000, 300000) / 100:.2f}"
        writer.writerow(
            [
                f"H{n:08d}",
                store,
                f"135{fan:08d}",
                "",
                paid.isoformat(),
                amount,
                "sale",
                "",
                rng.choice(methods),
            ]
        )


if __name__ == "__main__":
    main()
