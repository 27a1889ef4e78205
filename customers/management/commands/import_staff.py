"""`python manage.py import_staff FILE [--password P] [--dry-run]`.

Columns: username,name,store,role,work_number,abbreviation. `role` is guide, manager or hq;
`store` (a store code) is empty for hq. A new user gets `--password`, or a random password that
is printed once. Existing users keep their password; their profile is updated to match the file.
HQ users may sign in to the Django admin (staff and superuser). Each row goes through the staff
schema (`customers.schemas.StaffSchema`) and `customers.services.save_staff`, as in the admin.
"""

import secrets

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from customers.csv_import import CsvImportCommand, CsvRow, Outcome, column_message
from customers.schemas import StaffSchema, staff_row_input, validate_input
from customers.services import save_staff


class Command(CsvImportCommand):
    help = "Import or update staff from a UTF-8 CSV: username,name,store,role,work_number,abbreviation."
    columns = ("username", "name", "store", "role", "work_number", "abbreviation")

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--password",
            help="password for every new user (default: a random one each, printed once)",
        )

    def prepare(self, options: dict) -> None:
        if options.get("password"):
            try:
                password_validation.validate_password(options["password"])
            except ValidationError as exc:
                raise CommandError(column_message("--password", " ".join(exc.messages))) from exc
        self.schema = StaffSchema()

    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        staff_in = validate_input(self.schema, staff_row_input(row.values))
        password = options.get("password") or secrets.token_urlsafe(9)
        result = save_staff(staff_in=staff_in, password=password)
        if result.new_user and not options.get("password") and not options["dry_run"]:
            self._passwords.append(f"{staff_in.username}\t{password}")
        return Outcome(result.outcome)

    def execute(self, *args, **options):
        self._passwords: list[str] = []
        try:
            return super().execute(*args, **options)
        finally:
            if self._passwords:
                self.stdout.write(_("New users and their passwords (shown once):"))
                for line in self._passwords:
                    self.stdout.write(line)
