"""SYSTEM.yaml mappings for the validation tests (a plain module, imported by name)."""

import copy

CU_EMT = {
    "name": "Cu EMT",
    "elements": ["Cu"],
    "lattice": "fcc",
    "lattice_constant": 3.6,
    "surfaces": [[1, 1, 1]],
    "phases": ["hcp"],
    "temperatures": [1500],
    "reference": {"calculator": "ase.calculators.emt.EMT"},
    "settings": {"eos": {"strain": 0.01, "points": 7},
                 "surfaces": {"layers": 9, "vacuum": 10.0, "fmax": 1e-4},
                 "phonons": {"supercell": 2, "npoints": 20, "dos_kpts": 4}},
}


def cu_system(**changes):
    """A copy of CU_EMT with top-level keys replaced."""
    data = copy.deepcopy(CU_EMT)
    data.update(changes)
    return data
