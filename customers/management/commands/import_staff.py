"""`python manage.py import_staff FILE [--password P] [--dry-run]`.

Columns: username,name,store,role,work_number,abbreviation. `role` is guide, manager or hq;
`store` (a store code) is empty for hq. A new user gets `--password`, or a random password that
is printed once. Existing users keep their password; their profile is updated to match the file.
HQ users may sign in to the Django admin (staff and superuser).
"""

import secrets

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.utils.translation import gettext as _

from customers.csv_import import (
    CsvImportCommand,
    CsvRow,
    Outcome,
    RowError,
    column_message,
    unknown_store,
)
from customers.models import Staff, Store

ROLES = tuple(Staff.Role.values)


class Command(CsvImportCommand):
    help = "Import or update staff from a UTF-8 CSV: username,name,store,role,work_number,abbreviation."
    columns = ("username", "name", "store", "role", "work_number", "abbreviation")
    required = ("username", "name", "role", "work_number")

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
        self._stores = {s.code: s for s in Store.objects.all()}

    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        self._new_password = None
        outcome = self._import_row(row, options)
        if self._new_password is not None:
            self._passwords.append(f"{row['username']}\t{self._new_password}")
        return outcome

    def _import_row(self, row: CsvRow, options: dict) -> Outcome:
        role = row["role"].lower()
        if role not in ROLES:
            message = _('"%(value)s" is not one of %(choices)s') % {
                "value": row["role"],
                "choices": ", ".join(ROLES),
            }
            raise RowError(column_message("role", message))
        store = None
        if role == Staff.Role.HQ:
            if row["store"]:
                raise RowError(column_message("store", _("must be empty for an hq user")))
        else:
            if not row["store"]:
                message = _("required for a %(role)s") % {"role": role}
                raise RowError(column_message("store", message))
            store = self._stores.get(row["store"])
            if store is None:
                raise RowError(column_message("store", unknown_store(row["store"])))
        taken = (
            Staff.objects.filter(work_number=row["work_number"])
            .exclude(user__username=row["username"])
            .select_related("user")
            .first()
        )
        if taken is not None:
            message = _('"%(value)s" already belongs to %(username)s') % {
                "value": row["work_number"],
                "username": taken.user.username,
            }
            raise RowError(column_message("work_number", message))

        User = get_user_model()
        wanted_staff = {
            "name": row["name"],
            "store": store,
            "role": role,
            "work_number": row["work_number"],
            "abbreviation": row["abbreviation"],
        }
        wanted_user = {"is_staff": role == Staff.Role.HQ, "is_superuser": role == Staff.Role.HQ}
        user = User.objects.filter(username=row["username"]).first()
        outcome = Outcome.UNCHANGED
        if user is None:
            password = options.get("password") or secrets.token_urlsafe(9)
            user = User(username=row["username"], **wanted_user)
            user.set_password(password)
            user.full_clean(exclude=["password"])
            user.save()
            if not options.get("password") and not options["dry_run"]:
                self._new_password = password
            outcome = Outcome.CREATED
        elif role == Staff.Role.HQ and not user.is_staff:
            for name, value in wanted_user.items():
                setattr(user, name, value)
            user.save(update_fields=list(wanted_user))
            outcome = Outcome.UPDATED

        staff = Staff.objects.filter(user=user).first()
        if staff is None:
            staff = Staff(user=user, **wanted_staff)
            staff.full_clean(exclude=["user"])
            staff.save()
            return outcome if outcome == Outcome.CREATED else Outcome.UPDATED
        if all(getattr(staff, name) == value for name, value in wanted_staff.items()):
            return outcome
        for name, value in wanted_staff.items():
            setattr(staff, name, value)
        staff.full_clean(exclude=["user"])
        staff.save()
        return Outcome.UPDATED if outcome == Outcome.UNCHANGED else outcome

    def execute(self, *args, **options):
        self._passwords: list[str] = []
        try:
            return super().execute(*args, **options)
        finally:
            if self._passwords:
                self.stdout.write(_("New users and their passwords (shown once):"))
                for line in self._passwords:
                    self.stdout.write(line)
