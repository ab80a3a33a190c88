"""``mlip-gnn validate``: the properties a potential will be used for, computed with any
ASE calculator and compared with a reference calculator or published values.

Each family (structure and equation of state, elastic constants, defects, surfaces,
phases, phonons, dynamics) is a driver that takes any ASE calculator, so the physics is
tested apart from any trained model; :func:`run_validation` runs them for every committee
member and the reference, and :func:`write_report` writes ``validation.json``,
``report.md`` and the plots.

>>> spec = load_system("configs/validate/cu_emt.yaml")  # doctest: +SKIP
>>> result = run_validation(spec, [MLIPCalculator("runs/quickstart")])  # doctest: +SKIP
>>> write_report(result, "validation_out")  # doctest: +SKIP
"""

from mlip_gnn.validation.names import expected_names, unit_of
from mlip_gnn.validation.report import read_report_table, write_report
from mlip_gnn.validation.result import Check, Measurement
from mlip_gnn.validation.runner import (DRIVERS, PropertyEntry, ValidationResult,
                                        measure_all, run_validation)
from mlip_gnn.validation.session import check_species, select_families, validate_models
from mlip_gnn.validation.system import (FAMILIES, SystemSpec, SystemSpecError, load_system,
                                        parse_system)

__all__ = ["Check", "DRIVERS", "FAMILIES", "Measurement", "PropertyEntry", "SystemSpec",
           "SystemSpecError", "ValidationResult", "expected_names", "load_system",
           "measure_all", "parse_system", "read_report_table", "run_validation", "unit_of",
           "write_report", "validate_models", "select_families", "check_species"]
