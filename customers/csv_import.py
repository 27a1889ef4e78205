"""Reading onboarding spreadsheets (SPEC §7): UTF-8 CSV with a header row, row by row.

Every import command (`import_stores`, `import_staff`, `import_customers`, `import_orders`) shares
the same behaviour, and this module is where it lives:

- every data row carries its 1-based line number in the file (the header is line 1);
- a row that is not valid UTF-8 is a row error ("not valid UTF-8"), the other rows still import;
  a header that is not valid UTF-8, or a missing column, stops the whole file (`CsvFileError`);
- each row is applied in its own savepoint: a row that raises `ValidationError` is rolled back
  and reported with its line number and reason, the good rows go in;
- `--dry-run` runs every row exactly as a real import would (so duplicates within the file are
  caught too) inside one transaction that is rolled back at the end: nothing is written;
- a row handler says what it did (`CREATED`, `UPDATED`, `UNCHANGED`), so rerunning a file reports
  "0 created, 0 updated" and proves it changed nothing.

The API, smallest first::

    from customers.csv_import import CsvImportCommand, Outcome, RowError

    class Command(CsvImportCommand):
        help = "Import stores: code,name,city,address,latitude,longitude"
        columns = ("code", "name", "city", "address", "latitude", "longitude")
        required = ("code", "name", "city")          # columns whose value may not be empty
        optional_columns = ()                         # columns the file may leave out ('' then)

        def prepare(self, options: dict) -> None:
            ...                                       # optional: check options, load lookups

        def import_row(self, row: CsvRow, options: dict) -> Outcome:
            store_in = validate_input(self.schema, store_row_input(row.values))  # ValidationError
            return Outcome(save_store(store_in=store_in)[1])

`CsvImportCommand` adds the `FILE` and `--dry-run` arguments, prints the report (errors to stderr,
one line each: ``line 7: store: unknown store "S999"``) and exits with status 1 when any row failed
(after the good rows were committed). Every message goes through gettext, so the report comes out
in the active language (settings.LANGUAGE_CODE, Chinese, for a command run from the shell);
column names stay as they are written in the file. Outside a command, use the two building
blocks directly::

    rows = read_csv(path_or_binary_file, columns=("phone", "store"))   # CsvRow | (line, message)
    rows = stream_csv(path, columns=COLUMNS)            # the same, read as it goes (big files)
    report = apply_rows(rows, handler, dry_run=False)                   # -> ImportReport

`CsvRow` is ``(line, values)``; ``values`` maps every expected column to its stripped text ('' when
empty); a ``(line, message)`` pair is a row that could not be read, and `apply_rows` reports it.
The whole run is one transaction with a savepoint per row (commands run one at a time; a huge file
is fine on PostgreSQL). `ImportReport.notes` lines are printed before the summary.

Values are not parsed here: a command maps its row to the input of the schema of what it writes
(`customers.schemas`: `store_row_input`, `staff_row_input`, …), so a spreadsheet is held to the
rules of the API. `row_error_message` shows a schema's or a service's errors under the file's
column names; `column_message` and `line_message` put a column name or line number before a
message.
"""

from __future__ import annotations

import csv
import enum
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class CsvFileError(Exception):
    """The file as a whole cannot be read (missing, header not UTF-8, columns missing)."""


class RowError(Exception):
    """One row is bad; the message says why (shown after its line number)."""


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values[column]


@dataclass
class ImportReport:
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    errors: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return self.counts[Outcome.CREATED]

    @property
    def updated(self) -> int:
        return self.counts[Outcome.UPDATED]

    @property
    def unchanged(self) -> int:
        return self.counts[Outcome.UNCHANGED]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        counts = _(
            "%(created)s created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(errors)s rows with errors."
        ) % {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": len(self.errors),
        }
        if self.dry_run:
            return _("Dry run (nothing written): %(summary)s") % {"summary": counts}
        return counts

    def error_lines(self) -> list[str]:
        return [line_message(line, message) for line, message in self.errors]

    def failure(self) -> str:
        """The CommandError message of a run with row errors."""
        return _("%(count)s row(s) not imported; see the lines above.") % {
            "count": len(self.errors)
        }


def line_message(line: int, message: str) -> str:
    """`line 7: store: unknown store "S999"`, in the active language."""
    # Translators: a row error of a CSV import; line is the line number in the file.
    return _("line %(line)s: %(message)s") % {"line": line, "message": message}


def column_message(column: str, message: str) -> str:
    """`store: unknown store "S999"`; the column keeps the name it has in the file."""
    # Translators: column is a CSV column name as written in the file (not translated).
    return _("%(column)s: %(message)s") % {"column": column, "message": message}


NOT_UTF8 = gettext_lazy("not valid UTF-8 (save the spreadsheet as “CSV UTF-8”)")
HAS_NUL = gettext_lazy("contains a NUL character (\\u0000)")


def cannot_read(source: str | Path, exc: OSError) -> CsvFileError:
    return CsvFileError(
        _("cannot read %(file)s: %(reason)s") % {"file": source, "reason": exc.strerror or exc}
    )


def empty_file() -> CsvFileError:
    return CsvFileError(_("the file is empty (expected a header row)"))


def column_positions(
    header: Sequence[str], columns: Sequence[str], *, optional: Sequence[str] = ()
) -> dict[str, int]:
    """Index in `header` of each of `columns` the header has (names compared stripped and
    case-insensitively). A missing column that is not `optional` raises `CsvFileError`."""
    header = [h.strip().lower() for h in header]
    missing = [c for c in columns if c not in header and c not in optional]
    if missing:
        expected = [c for c in columns if c not in optional]
        raise CsvFileError(
            line_message(
                1,
                _("missing column(s) %(missing)s; expected %(expected)s")
                % {"missing": ", ".join(missing), "expected": ",".join(expected)},
            )
        )
    return {c: header.index(c) for c in columns if c in header}


# Bytes that are not UTF-8 were decoded to lone surrogates U+DC80..U+DCFF (surrogateescape).
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _has_undecodable(text: str) -> bool:
    return _UNDECODABLE.search(text) is not None


def _parse(
    handle: TextIO, columns: Sequence[str], optional: Sequence[str]
) -> Iterator[CsvRow | tuple[int, str]]:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        raise empty_file() from None
    if header and header[0].startswith("\ufeff"):  # Excel writes a byte-order mark
        header[0] = header[0][1:]
    if _has_undecodable(",".join(header)):
        raise CsvFileError(
            line_message(
                1, _("the header is not valid UTF-8 (save the spreadsheet as “CSV UTF-8”)")
            )
        )
    positions = column_positions(header, columns, optional=optional)
    absent = {c: "" for c in columns if c not in positions}
    line = reader.line_num
    for fields in reader:
        start, line = line + 1, reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue
        joined = "".join(fields)
        if _has_undecodable(joined):
            yield start, str(NOT_UTF8)
            continue
        if "\x00" in joined:  # PostgreSQL cannot store it: a line error, not a crash
            yield start, str(HAS_NUL)
            continue
        if len(fields) < len(header):
            fields = fields + [""] * (len(header) - len(fields))
        elif len(fields) > len(header) and any(f.strip() for f in fields[len(header) :]):
            message = _("%(fields)s fields, the header has %(columns)s") % {
                "fields": len(fields),
                "columns": len(header),
            }
            yield start, message
            continue
        values = {c: fields[i].strip() for c, i in positions.items()}
        yield CsvRow(start, {**values, **absent} if absent else values)


def read_csv(
    source: str | Path | BinaryIO | bytes,
    *,
    columns: Sequence[str],
    optional: Sequence[str] = (),
) -> list[CsvRow | tuple[int, str]]:
    """Rows of a UTF-8 CSV file with a header row, each with its line number.

    Returns `CsvRow`s, and `(line, message)` pairs for rows that cannot be read at all (not
    UTF-8, wrong number of fields); `apply_rows` reports those as row errors. Extra columns are
    ignored; a missing column raises `CsvFileError`, unless it is one of `optional` (its value
    is then '' in every row). Blank lines are skipped.
    """
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, str | Path):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise cannot_read(source, exc) from exc
    else:
        data = source.read()
    text = data.decode("utf-8", errors="surrogateescape")
    return list(_parse(io.StringIO(text, newline=""), columns, optional))


def stream_csv(
    path: str | Path, *, columns: Sequence[str], optional: Sequence[str] = ()
) -> Iterator[CsvRow | tuple[int, str]]:
    """`read_csv` of a file read as it goes (a million orders need not fit in memory)."""
    try:
        handle = open(path, encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    with handle:
        yield from _parse(handle, columns, optional)


def row_error_message(
    exc: ValidationError | RowError, columns: Mapping[str, str] | None = None
) -> str:
    """A row's error as `amount: The amount cannot be negative.; phone: …`: each field under the
    file's column name (`columns` maps a schema's field to its column), never the raw values.
    Errors of the row as a whole come without a column."""
    if isinstance(exc, RowError):
        return str(exc)
    if not hasattr(exc, "error_dict"):
        return " ".join(str(m) for m in exc.messages)
    columns = columns or {}
    return "; ".join(
        " ".join(messages)
        if key in ("detail", NON_FIELD_ERRORS)
        else column_message(columns.get(key, key), " ".join(messages))
        for key, messages in exc.message_dict.items()
    )


def apply_rows(
    rows: Iterable[CsvRow | tuple[int, str]],
    handler: Callable[[CsvRow], Outcome | str],
    *,
    dry_run: bool = False,
) -> ImportReport:
    """Apply `handler` to every row, each in its own savepoint; collect outcomes and errors.

    A handler raising `ValidationError` or `RowError` rolls back only its row. With `dry_run`
    the whole run happens in a transaction that is rolled back, so nothing is written but every
    check (including duplicates within the file) runs exactly as for real.
    """
    report = ImportReport(dry_run=dry_run)
    with transaction.atomic():
        for row in rows:
            if not isinstance(row, CsvRow):
                report.errors.append(row)
                continue
            try:
                with transaction.atomic():
                    outcome = Outcome(handler(row))
            except (ValidationError, RowError) as exc:
                report.errors.append((row.line, row_error_message(exc)))
            else:
                report.counts[outcome] += 1
        if dry_run:
            transaction.set_rollback(True)
    return report


def unknown_store(code: str) -> str:
    return _('unknown store "%(code)s"') % {"code": code}


class CsvImportCommand(ABC, BaseCommand):
    """Base for `import_*` commands: FILE, --dry-run, a report, exit status 1 on row errors."""

    columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()  # of `columns`: the file may leave these out
    required: tuple[str, ...] = ()  # columns whose value may not be empty

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="UTF-8 CSV file with a header row")
        parser.add_argument("--dry-run", action="store_true", help="check every row, write nothing")

    @abstractmethod
    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        """Import one row (or, in a dry run, check it); raise RowError for a bad one."""

    def prepare(self, options: dict) -> None:
        """Called once before the file is read: check options, load lookups (CommandError)."""

    def check_required(self, row: CsvRow) -> None:
        empty = [c for c in self.required if not row[c]]
        if empty:
            raise RowError(
                "; ".join(column_message(c, _("this column may not be empty")) for c in empty)
            )

    def handle(self, *args: Any, **options: Any) -> None:
        self.prepare(options)
        try:
            rows = read_csv(options["file"], columns=self.columns, optional=self.optional_columns)
        except CsvFileError as exc:
            raise CommandError(str(exc)) from exc

        def handler(row: CsvRow) -> Outcome:
            self.check_required(row)
            return self.import_row(row, options)

        self.report = report = apply_rows(rows, handler, dry_run=options["dry_run"])
        for note in report.notes:
            self.stdout.write(note)
        for line in report.error_lines():
            self.stderr.write(line)
        self.stdout.write(report.summary())
        if report.errors:
            raise CommandError(report.failure())
