"""What a model predicts and is scored on: the table of labelled quantities (name, unit,
graph key, label mask, per atom or per frame) and the one error-metrics implementation.

>>> from mlip_gnn.quantities import QUANTITIES, ErrorSums
>>> [q.name for q in QUANTITIES]
['energy', 'forces', 'stress']
"""

from mlip_gnn.quantities.metrics import ErrorSums, labelled_values
from mlip_gnn.quantities.table import (CHARGES, ENERGY, FORCES, MAGNETIC_FORCES,
                                       METRIC_SCALE, QUANTITIES, QUANTITY_NAMES, STRESS,
                                       Quantity, metric_units, quantity)

__all__ = ["Quantity", "QUANTITIES", "QUANTITY_NAMES", "ENERGY", "FORCES", "STRESS",
           "MAGNETIC_FORCES", "CHARGES",
           "METRIC_SCALE", "quantity", "metric_units", "ErrorSums", "labelled_values"]
