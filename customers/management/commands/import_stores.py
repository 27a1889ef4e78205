"""`python manage.py import_stores FILE [--dry-run]` — code,name,city,address,latitude,longitude.

Each row goes through the store schema (`customers.schemas.StoreSchema`: coordinates in China,
both or neither, rounded to 6 places) and `customers.services.save_store`, as in the admin.
"""

from customers.csv_import import CsvImportCommand, CsvRow, Outcome
from customers.schemas import StoreSchema, store_row_input, validate_input
from customers.services import save_store


class Command(CsvImportCommand):
    help = "Import or update stores from a UTF-8 CSV: code,name,city,address,latitude,longitude."
    columns = ("code", "name", "city", "address", "latitude", "longitude")

    def prepare(self, options: dict) -> None:
        self.schema = StoreSchema()

    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        store_in = validate_input(self.schema, store_row_input(row.values))
        return Outcome(save_store(store_in=store_in)[1])
