"""Structure search through any model: basin hopping, minima hopping and random structure
search (cluster and bulk), relaxed minima deduplicated by a pair-distance fingerprint,
with the model's uncertainty for each; minima it doubts are candidates for active learning.

>>> from mlip_gnn.search import load_search_config, run_search_with_models  # doctest: +SKIP
>>> cfg = load_search_config("configs/search/cu13.yaml")  # doctest: +SKIP
>>> result = run_search_with_models(cfg)  # doctest: +SKIP
>>> result.minima[0].energy_per_atom  # doctest: +SKIP
"""

from mlip_gnn.search.drivers import DRIVERS, BasinHopping, Driver, MinimaHopping, RandomSearch
from mlip_gnn.search.fingerprint import fingerprint, fingerprint_distance, same_minimum
from mlip_gnn.search.log import TRIALS_FILE, TrialLog, TrialRecord
from mlip_gnn.search.minima import Minimum, distinct_minima, spacegroup
from mlip_gnn.search.run import (SearchResult, model_calculator, run_search,
                                 run_search_with_models)
from mlip_gnn.search.schema import SearchConfig, load_search_config, search_config_from_dict
from mlip_gnn.search.structures import SearchError, random_bulk, random_cluster

__all__ = ["DRIVERS", "BasinHopping", "Driver", "MinimaHopping", "RandomSearch", "fingerprint",
           "fingerprint_distance", "same_minimum", "TRIALS_FILE", "TrialLog", "TrialRecord",
           "Minimum", "distinct_minima", "spacegroup", "SearchResult", "model_calculator",
           "run_search", "run_search_with_models", "SearchConfig", "load_search_config",
           "search_config_from_dict", "SearchError", "random_bulk", "random_cluster"]
