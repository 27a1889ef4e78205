"""Signals of the customers app, for the apps above it (the layers never import upwards).

`orders_recorded`: sent by `customers.services.record_orders`, inside its transaction, after
new orders were written, with `customer_ids` (their fans) and `now` (the time of the write).
segmentation relabels those fans live (`segmentation.live`); a receiver's error rolls the
orders back with it, so orders and labels never disagree.

`customers_transferred`: sent by `customers.transfers.transfer_customers`, inside its
transaction, with `customer_ids` (the fans moved) and `to_guide`: their pending follow-ups move
with them (`followups.receivers`).
"""

from django.dispatch import Signal

orders_recorded = Signal()
customers_transferred = Signal()
