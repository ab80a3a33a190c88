"""Active learning: explore with MD, select what the models are unsure about, label it
with the reference method, retrain; repeat (``mlip-gnn active-learn AL.yaml``).

>>> from mlip_gnn.active_learning import ActiveLearning, load_al_config  # doctest: +SKIP
>>> summaries = ActiveLearning(load_al_config("AL.yaml")).run()  # doctest: +SKIP
"""

from mlip_gnn.active_learning.estimators import (ESTIMATOR_FACTORIES, EstimatorContext,
                                                 EstimatorError, RunFit, fit_run,
                                                 make_estimator, register_estimator)
from mlip_gnn.active_learning.labelling import (CalculatorLabeller, CommandLabeller, LabelError,
                                                Labeller, make_labeller)
from mlip_gnn.active_learning.loop import ActiveLearning, LoopInterrupted, run_loop
from mlip_gnn.active_learning.records import LOG_FILE, PLOT_FILE, IterationDir
from mlip_gnn.active_learning.schema import ALConfig, al_config_from_dict, load_al_config
from mlip_gnn.active_learning.selection import (classify, farthest_point_sampling,
                                                select_candidates, select_random)

__all__ = ["ActiveLearning", "LoopInterrupted", "run_loop", "ALConfig", "load_al_config",
           "al_config_from_dict", "ESTIMATOR_FACTORIES", "EstimatorContext", "EstimatorError",
           "RunFit", "fit_run",
           "make_estimator", "register_estimator", "Labeller", "CalculatorLabeller",
           "CommandLabeller", "LabelError", "make_labeller", "IterationDir", "LOG_FILE",
           "PLOT_FILE", "classify", "farthest_point_sampling", "select_candidates",
           "select_random"]
