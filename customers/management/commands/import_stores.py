"""`python manage.py import_stores FILE [--dry-run]` — code,name,city,address,latitude,longitude."""

from decimal import Decimal

from django.utils.translation import gettext as _

from customers.csv_import import (
    CsvImportCommand,
    CsvRow,
    Outcome,
    RowError,
    column_message,
    parse_decimal,
)
from customers.models import Store

# Mainland China, generously: store coordinates outside this box are a typo (swapped lat/lon,
# a missing minus sign, a dropped digit), not a store.
CHINA_LATITUDE = (Decimal(18), Decimal(54))
CHINA_LONGITUDE = (Decimal(73), Decimal(135))


def store_coordinates(row: CsvRow) -> tuple[Decimal | None, Decimal | None]:
    latitude = parse_decimal(row["latitude"], column="latitude", places=6)
    longitude = parse_decimal(row["longitude"], column="longitude", places=6)
    if (latitude is None) != (longitude is None):
        raise RowError(_("latitude and longitude: give both or neither"))
    if latitude is not None and longitude is not None:
        if not CHINA_LATITUDE[0] <= latitude <= CHINA_LATITUDE[1]:
            message = _(
                "%(value)s is outside China (18 to 54); are latitude and longitude swapped?"
            ) % {"value": latitude}
            raise RowError(column_message("latitude", message))
        if not CHINA_LONGITUDE[0] <= longitude <= CHINA_LONGITUDE[1]:
            message = _("%(value)s is outside China (73 to 135)") % {"value": longitude}
            raise RowError(column_message("longitude", message))
    return latitude, longitude


class Command(CsvImportCommand):
    help = "Import or update stores from a UTF-8 CSV: code,name,city,address,latitude,longitude."
    columns = ("code", "name", "city", "address", "latitude", "longitude")
    required = ("code", "name", "city")

    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        latitude, longitude = store_coordinates(row)
        wanted = {
            "name": row["name"],
            "city": row["city"],
            "address": row["address"],
            "latitude": latitude,
            "longitude": longitude,
        }
        store = Store.objects.filter(code=row["code"]).first()
        if store is None:
            store = Store(code=row["code"], **wanted)
            store.full_clean()
            store.save()
            return Outcome.CREATED
        if all(getattr(store, name) == value for name, value in wanted.items()):
            return Outcome.UNCHANGED
        for name, value in wanted.items():
            setattr(store, name, value)
        store.full_clean()
        store.save()
        return Outcome.UPDATED
