"""Signals of segmentation, for the apps above it (the layers never import upwards).

`labels_switched`: sent once a brand-wide relabel run succeeded and its transaction committed,
with `run` (the RelabelRun). Follow-ups are generated from it (`followups.receivers`).
"""

from django.dispatch import Signal

labels_switched = Signal()
