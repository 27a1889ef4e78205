"""`python manage.py generate_follow_ups [--as-of YYYY-MM-DD]`: the day's follow-ups by hand (the
nightly relabel triggers them on its own); idempotent."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand
from django.utils import timezone

from followups.services import generate_follow_ups


class Command(BaseCommand):
    help = "Generate the day's follow-ups from the current labels (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=date.fromisoformat, default=None)

    def handle(self, *args, **options) -> None:
        as_of = options["as_of"] or timezone.localdate()
        counts = generate_follow_ups(as_of=as_of, now=timezone.now())
        for key, value in counts.items():
            self.stdout.write(f"{key:>18}: {value:,}")
