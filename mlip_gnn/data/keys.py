"""Names of the tensors in an atomic graph.

An atomic graph is a plain ``Dict[str, Tensor]``. Every field is named by one of the
constants below; the comment gives shape, dtype and unit. ``n`` is the number of atoms,
``e`` the number of directed edges and ``g`` the number of frames in a batch.
"""

from typing import Final, FrozenSet

# --- inputs -------------------------------------------------------------------------------
POSITIONS: Final[str] = "positions"  # [n, 3] float, Å
SPECIES: Final[str] = "species"  # [n] long, index into the model's species list
CELL: Final[str] = "cell"  # [g, 3, 3] float, Å, rows are lattice vectors (zeros if none)
PBC: Final[str] = "pbc"  # [g, 3] bool
EDGE_INDEX: Final[str] = "edge_index"  # [2, e] long, (sender i, receiver j): r_ij = r_j - r_i
EDGE_CELL_SHIFT: Final[str] = "edge_cell_shift"  # [e, 3] float, integer lattice shifts of j
BATCH: Final[str] = "batch"  # [n] long, frame index of each atom
PTR: Final[str] = "ptr"  # [g + 1] long, first atom of each frame
NUM_ATOMS: Final[str] = "num_atoms"  # [g] long
MAGMOMS: Final[str] = "magmoms"  # [n] float, μB, collinear magnetic moments (spin models)
TOTAL_CHARGE: Final[str] = "total_charge"  # [g] float, e, net charge of each frame

# --- targets and outputs -----------------------------------------------------------------
TOTAL_ENERGY: Final[str] = "energy"  # [g] float, eV
ATOMIC_ENERGIES: Final[str] = "atomic_energies"  # [n] float, eV
FORCES: Final[str] = "forces"  # [n, 3] float, eV/Å
STRESS: Final[str] = "stress"  # [g, 3, 3] float, eV/Å³, ASE sign (positive = tensile)
VIRIAL: Final[str] = "virial"  # [g, 3, 3] float, eV, -Σ r_ij ⊗ dE/dr_ij
EDGE_FORCES: Final[str] = "edge_forces"  # [e, 3] float, eV/Å, dE/dr_ij (pair forces)
MAGNETIC_FORCES: Final[str] = "magnetic_forces"  # [n] float, eV/μB, -∂E/∂m_i
CHARGES: Final[str] = "charges"  # [n] float, e, latent charges (long-range models) or labels

# --- per-frame metadata (training only) -----------------------------------------------------
WEIGHT: Final[str] = "weight"  # [g] float, per-config loss weight
ENERGY_WEIGHT: Final[str] = "energy_weight"  # [g] float, 1 if the frame has an energy else 0
FORCES_WEIGHT: Final[str] = "forces_weight"  # [g] float, 1 if the frame has forces else 0
STRESS_WEIGHT: Final[str] = "stress_weight"  # [g] float, 1 if the frame has a stress else 0
MAGNETIC_FORCES_WEIGHT: Final[str] = "magnetic_forces_weight"  # [g] float, 1 if labelled
CHARGES_WEIGHT: Final[str] = "charges_weight"  # [g] float, 1 if per-atom charges labelled

#: index fields shifted by the number of atoms (node offset) when frames are batched
NODE_INDEX_FIELDS: Final[FrozenSet[str]] = frozenset({EDGE_INDEX})
