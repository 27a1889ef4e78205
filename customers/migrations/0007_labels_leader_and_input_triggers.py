"""The labels row keeps the opinion-leader mark it was computed with, and a fan's (or a guide's)
`updated_at` moves with every change of what her labels and remark names are built from — also
by a queryset `update()` or raw SQL, through a trigger — so that a nightly relabel reads the
fans only where something changed (segmentation.selectors.changed_customer_rows)."""

from django.db import migrations, models

# Only the opinion leaders' rows (the others' default is right): an UPDATE of every row would
# double the table's size.
FILL_LEADERS = """
    UPDATE segmentation_customerlabels SET is_opinion_leader = TRUE
     WHERE customer_id IN (SELECT id FROM customers_customer WHERE is_opinion_leader)
"""
# (table, the columns whose change moves updated_at)
WATCHED = [
    ("customers_customer", ["name", "member_since", "guide_id", "referrer_id", "is_opinion_leader"]),
    ("customers_staff", ["name", "abbreviation"]),
]


def _postgresql(table: str, columns: list[str]) -> tuple[str, str]:
    changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in columns)
    create = f"""
        CREATE OR REPLACE FUNCTION {table}_inputs_touched() RETURNS trigger AS $$
        BEGIN
            IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at AND ({changed}) THEN
                NEW.updated_at := clock_timestamp();
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER {table}_inputs_touched BEFORE UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_inputs_touched();
    """
    drop = f"""
        DROP TRIGGER IF EXISTS {table}_inputs_touched ON {table};
        DROP FUNCTION IF EXISTS {table}_inputs_touched();
    """
    return create, drop


def _sqlite(table: str, columns: list[str]) -> tuple[str, str]:
    changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)
    create = f"""
        CREATE TRIGGER {table}_inputs_touched AFTER UPDATE ON {table}
        FOR EACH ROW WHEN NEW.updated_at IS OLD.updated_at AND ({changed})
        BEGIN
            UPDATE {table} SET updated_at = strftime('%Y-%m-%d %H:%M:%f000', 'now')
             WHERE id = NEW.id;
        END
    """
    return create, f"DROP TRIGGER IF EXISTS {table}_inputs_touched"


def _triggers(forward: bool):
    def run(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        make = {"postgresql": _postgresql, "sqlite": _sqlite}.get(vendor)
        if make is None:
            return
        for table, columns in WATCHED:
            create, drop = make(table, columns)
            schema_editor.execute(create if forward else drop)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0006_live_labels"),
    ]

    operations = [
        migrations.AddField(
            model_name="customerlabels",
            name="is_opinion_leader",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunSQL(FILL_LEADERS, migrations.RunSQL.noop),
        migrations.RunPython(_triggers(True), _triggers(False)),
    ]
