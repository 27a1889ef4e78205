"""Labels rows now hold the refunds of a fan who never bought too (the aggregates of all her
orders, so that an incremental run can move them on): the rows the earlier job wrote for such
fans (zeros) lose their `labels_key`, so that the next run reads their orders again."""

from django.db import migrations

FORGET_REFUND_ONLY_ROWS = """
    UPDATE segmentation_customerlabels SET labels_key = NULL
     WHERE lifetime_sales = 0
       AND customer_id IN (SELECT customer_id FROM customers_order WHERE kind = 'refund')
"""


class Migration(migrations.Migration):
    dependencies = [
        ("segmentation", "0008_live_labels"),
    ]

    operations = [migrations.RunSQL(FORGET_REFUND_ONLY_ROWS, migrations.RunSQL.noop)]
