"""Signals of the customers app, for the apps above it (the layers never import upwards).

`orders_recorded`: sent by `customers.services.record_orders`, inside its transaction, after
new orders were written, with `customer_ids` (their fans) and `now` (the time of the write).
segmentation relabels those fans live (`segmentation.live`); a receiver's error rolls the
orders back with it, so orders and labels never disagree.
"""

from django.dispatch import Signal

orders_recorded = Signal()
