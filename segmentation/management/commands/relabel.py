"""`python manage.py relabel [--as-of YYYY-MM-DD] [--store CODE] [--full]`: recompute every
computed label."""

from __future__ import annotations

import argparse
from datetime import date

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from segmentation.models import RelabelRun
from segmentation.services import parse_as_of, relabel


def _as_of(value: str) -> date:
    """`--as-of`: the API's rule (`services.parse_as_of`)."""
    try:
        return parse_as_of(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(" ".join(exc.messages)) from None


class Command(BaseCommand):
    requires_system_checks: list[str] = []  # a batch job: URL and admin checks are not its concern
    help = (
        "Recompute apple, RFM segment, R stage, membership, rhythm and remark names of every fan."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", type=_as_of, help="YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--store",
            action="append",
            dest="stores",
            metavar="CODE",
            help="only write this store's fans (repeatable); statistics still cover the brand",
        )

        parser.add_argument(
            "--full",
            action="store_true",
            help="read every order (not only the fans whose orders moved) and repair any drift",
        )

    def handle(self, *args, **options) -> None:
        as_of = options["as_of"] or timezone.localdate()
        self.stdout.write(f"relabel as of {as_of}")

        def progress(phase: str, seconds: float) -> None:
            self.stdout.write(f"  {phase:<10} {seconds:8.2f} s")

        run = relabel(
            as_of=as_of, store_codes=options["stores"], progress=progress, full=options["full"]
        )
        if run.status == RelabelRun.Status.SKIPPED:
            raise CommandError("another relabel run is in progress; this one was skipped")
        if run.status == RelabelRun.Status.FAILED:
            raise CommandError(f"relabel failed (run {run.pk}): {run.error}")
        self.stdout.write(
            self.style.SUCCESS(
                f"run {run.pk}: {run.fans_labelled} fans labelled, {run.rows_written} labels rows"
                f" written in {run.timings.get('total', 0):.2f} s"
            )
        )
        self.stdout.write("  seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items()))
        self.stdout.write(f"  mode: {run.mode}")
        if run.drift.get("fans"):
            self.stdout.write(
                self.style.WARNING(
                    f"  drift: {run.drift['fans']} fans' stored aggregates differed from their"
                    f" orders (repaired); first: {run.drift['sample']}"
                )
            )
        for group, counts in run.label_counts.items():
            self.stdout.write(
                f"  {group}: " + ", ".join(f"{code} {n}" for code, n in counts.items())
            )
        for group, counts in run.change_counts.items():
            changed = sum(counts.values())
            top = sorted(counts.items(), key=lambda item: -item[1])[:6]
            self.stdout.write(
                f"  changes {group}: {changed}"
                + ("  (" + ", ".join(f"{k} {n}" for k, n in top) + ")" if top else "")
            )
