"""`python manage.py seed_demo [--stores N] [--customers N] [--orders N] [--seed S] [--today D] [--if-empty]`."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError, CommandParser

from customers.models import Store
from devtools.demo import generate_demo_brand


class Command(BaseCommand):
    help = (
        "Fill an empty database with a realistic, deterministic demo brand: stores, guides, "
        "managers, an HQ user, fans and two years of orders (COPY on PostgreSQL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--stores", type=int, default=6)
        parser.add_argument("--customers", type=int, default=3000, help="number of fans")
        parser.add_argument("--orders", type=int, default=20000, help="sales and refunds together")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--today",
            type=date.fromisoformat,
            default=None,
            help="YYYY-MM-DD: orders cover the two years before it (default: today)",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing (successfully) when stores exist"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")

    def handle(self, *args, **options) -> None:
        for name in ("stores", "customers", "orders"):
            if options[name] < 0:
                raise CommandError(f"--{name} must not be negative")
        if options["stores"] < 1:
            raise CommandError("--stores must be at least 1")
        if Store.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Stores exist already: demo brand not loaded (--if-empty).")
                return
            raise CommandError(
                "The database has stores already; seed_demo fills an empty database only "
                "(use a fresh database, or `manage.py flush`)."
            )
        summary = generate_demo_brand(
            stores=options["stores"],
            customers=options["customers"],
            orders=options["orders"],
            seed=options["seed"],
            today=options["today"],
            progress=not options["no_progress"] and options["verbosity"] > 0,
        )
        self.stdout.write(
            f"Demo brand (seed {summary.seed}, orders before {summary.today}): {summary.stores} stores, "
            f"{summary.guides} guides, {summary.managers} managers, {summary.customers:,} fans, "
            f"{summary.sales:,} sales, {summary.refunds:,} refunds, {summary.items:,} order items "
            f"in {summary.seconds:.1f} s."
        )
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {summary.password})"))
        for role, username in summary.logins.items():
            self.stdout.write(f"  {role:<8} {username}")
