"""The one inference path from a structure to outputs: graph building, one model or a
committee, per-atom features on request, and a pluggable uncertainty estimator.

>>> from mlip_gnn.inference import Predictor  # doctest: +SKIP
>>> pred = Predictor(["m1.pt", "m2.pt"]).predict(conf)  # doctest: +SKIP
>>> pred.energy, pred.members[0].forces  # doctest: +SKIP
"""

from mlip_gnn.inference.features import (FeaturesUnavailableError, feature_modules,
                                         record_features)
from mlip_gnn.inference.members import (CommitteeError, Member, ModelSource, common_r_max,
                                        load_member)
from mlip_gnn.inference.outputs import (MemberOutput, ModelInputs, Prediction, Uncertainty,
                                        UncertaintyEstimator)
from mlip_gnn.inference.predictor import Predictor

__all__ = ["Predictor", "Prediction", "MemberOutput", "Uncertainty", "UncertaintyEstimator",
           "ModelInputs",
           "Member", "ModelSource", "CommitteeError", "load_member", "common_r_max",
           "FeaturesUnavailableError", "feature_modules", "record_features"]
