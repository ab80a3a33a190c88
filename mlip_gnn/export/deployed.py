"""The module that is exported: what an MD engine has in, energy and derivatives out.

:class:`DeployedPotential` wraps a :class:`~mlip_gnn.model.Potential` so that a caller needs
neither our graph keys nor our species indices. It is scripted for export and also used
eagerly (calculator on a checkpoint), so both paths run the same code.
"""

from typing import Dict, List

import torch

from mlip_gnn.data import keys
from mlip_gnn.model.derivatives import forces_from_edge_gradients, virial_from_edge_gradients

__all__ = ["DeployedPotential", "MAX_ATOMIC_NUMBER", "PAIR_METHOD", "engine_interface"]

MAX_ATOMIC_NUMBER = 118
# the method an engine with ghost atoms calls (the LAMMPS pair style reads this name)
PAIR_METHOD = "pair_forward"


def engine_interface(potential: torch.nn.Module) -> Dict[str, object]:
    """What an MD engine with domain decomposition needs beyond species and r_max.

    An atom's energy depends on atoms up to ``num_layers`` message-passing steps away, so
    a rank must hold ghost atoms out to ``interaction_range`` = num_layers × r_max (Å) to
    compute the energies of its own atoms exactly.
    """
    num_layers = int(potential.num_layers)
    return {"num_layers": num_layers, "interaction_range": num_layers * float(potential.r_max),
            "pair_method": PAIR_METHOD}


class DeployedPotential(torch.nn.Module):
    """Single-structure inference with atomic numbers, an edge list and cell shifts.

    Attributes kept in the TorchScript file: ``atomic_numbers`` (List[int]), ``symbols``
    (List[str]), ``r_max`` (Å), ``model_dtype`` ("float32" / "float64"), ``num_layers``
    (int), ``interaction_range`` (Å, num_layers × r_max), ``pair_method`` (the name of the
    method for engines with ghost atoms: :meth:`pair_forward`) and ``metadata_json``
    (everything of :func:`mlip_gnn.export.export_model`'s metadata, as JSON). The LAMMPS
    pair style reads these attributes; an export without them predates it.

    ``has_llpr`` (bool) says whether a last-layer prediction-rigidity fit is attached
    (:meth:`attach_llpr`, kept in the export): then :meth:`llpr` gives the uncertainty.
    """

    def __init__(self, potential: torch.nn.Module, symbols: List[str], model_dtype: str,
                 metadata_json: str = "{}"):
        super().__init__()
        self.model = potential
        self.atomic_numbers: List[int] = [int(z) for z in potential.atomic_numbers]
        self.symbols: List[str] = list(symbols)
        self.r_max: float = float(potential.r_max)
        self.model_dtype: str = model_dtype
        interface = engine_interface(potential)
        self.num_layers: int = int(interface["num_layers"])
        self.interaction_range: float = float(interface["interaction_range"])
        self.pair_method: str = str(interface["pair_method"])
        self.metadata_json: str = metadata_json
        # "collinear": forward needs per-atom moments (μB) and returns -∂E/∂m
        self.spin: str = str(getattr(potential, "spin_mode", "none"))
        # "latent": forward takes the total charge and returns the latent charges; an
        # engine that hands over pair vectors alone (pair_forward) cannot run it
        modes = [str(getattr(potential, name, "none"))
                 for name in ("long_range_mode", "dispersion_mode")]
        self.long_range: str = "+".join(m for m in modes if m != "none") or "none"
        lookup = torch.full((MAX_ATOMIC_NUMBER + 1,), -1, dtype=torch.long)
        lookup[torch.tensor(self.atomic_numbers)] = torch.arange(len(self.atomic_numbers))
        self.register_buffer("species_lookup", lookup)  # [119] atomic number → species
        # LLPR (mlip_gnn.uncertainty.llpr): (Σ + ς² I)⁻¹ [d, d], force rows u_k [r, d]
        self.has_llpr: bool = False
        self.llpr_alpha2_energy: float = 0.0
        self.llpr_alpha2_forces: float = 0.0
        self.llpr_ood_reference: float = 1.0
        self.register_buffer("llpr_inverse", torch.zeros(0, 0, dtype=torch.float64),
                             persistent=False)
        self.register_buffer("llpr_rows", torch.zeros(0, 0, dtype=torch.float64),
                             persistent=False)

    def attach_llpr(self, inverse: torch.Tensor, rows: torch.Tensor, alpha2_energy: float,
                    alpha2_forces: float, ood_reference: float) -> None:
        """Attach an LLPR fit: ``inverse`` = (Σ + ς² I)⁻¹ [d, d], ``rows`` [r, d] with
        Σ_k u_k u_kᵀ ≈ (Σ + ς² I)⁻¹ for the force uncertainty, the fitted α² and the OOD
        unit (see :class:`mlip_gnn.uncertainty.LLPR`)."""
        device = self.species_lookup.device
        self.llpr_inverse = inverse.detach().to(device=device, dtype=torch.float64)
        self.llpr_rows = rows.detach().to(device=device, dtype=torch.float64)
        self.llpr_alpha2_energy = float(alpha2_energy)
        self.llpr_alpha2_forces = float(alpha2_forces)
        self.llpr_ood_reference = float(ood_reference)
        self.has_llpr = True

    def _dtype(self) -> torch.dtype:
        return self.model.e0.dtype

    def species(self, atomic_numbers: torch.Tensor) -> torch.Tensor:
        """[n] atomic numbers → [n] species indices; unknown elements raise an error."""
        z = atomic_numbers.to(torch.long)
        known = (z >= 0) & (z < self.species_lookup.shape[0])
        species = self.species_lookup[torch.where(known, z, torch.zeros_like(z))]
        species = torch.where(known, species, torch.full_like(species, -1))
        if bool((species < 0).any()):
            bad: List[int] = torch.unique(z[species < 0]).tolist()
            raise ValueError("UnknownSpeciesError: atomic number(s) " + str(bad)
                             + " not known to the model; it was trained on "
                             + str(self.atomic_numbers))
        return species

    def forward(self, positions: torch.Tensor, atomic_numbers: torch.Tensor,
                edge_index: torch.Tensor, cell_shifts: torch.Tensor, cell: torch.Tensor,
                compute_stress: bool = True, magmoms: torch.Tensor | None = None,
                charge: torch.Tensor | None = None) -> Dict[str, torch.Tensor]:
        """positions [n, 3] Å, atomic numbers [n], edge_index [2, e] (sender i, receiver j),
        cell_shifts [e, 3] (integer multiples of the lattice vectors added to r_j),
        cell [3, 3] Å (rows; zeros without PBC), and for a spin model (``spin`` is
        ``"collinear"``) magmoms [n] μB, the collinear moments (ignored otherwise); for a
        long-range model (``long_range`` is ``"latent"``) the structure's total charge
        [] e (None: neutral), and the cell's nonzero rows say which directions are
        periodic (all three or none: a slab is refused).

        Returns energy [] eV, atomic_energies [n] eV, forces [n, 3] eV/Å, edge_forces
        [e, 3] eV/Å (dE/dr_ij) and, with ``compute_stress``, virial [3, 3] eV and stress
        [3, 3] eV/Å³ (ASE sign, zero when the cell has no volume); a spin model adds
        magnetic_forces [n] eV/μB (-∂E/∂m_i), a long-range model charges [n] e (the
        latent charges). Tensors are in the model's dtype on its
        device; inputs are cast to them.
        """
        dtype = self._dtype()
        device = self.species_lookup.device
        n = positions.shape[0]
        graph: Dict[str, torch.Tensor] = {
            keys.POSITIONS: positions.to(device=device, dtype=dtype),
            keys.SPECIES: self.species(atomic_numbers.to(device)),
            keys.EDGE_INDEX: edge_index.to(device=device, dtype=torch.long),
            keys.EDGE_CELL_SHIFT: cell_shifts.to(device=device, dtype=dtype),
            keys.CELL: cell.to(device=device, dtype=dtype).reshape(1, 3, 3),
            keys.BATCH: torch.zeros(n, dtype=torch.long, device=device),
        }
        if magmoms is not None and self.spin != "none":
            graph[keys.MAGMOMS] = magmoms.to(device=device, dtype=dtype).reshape(n)
        if self.long_range != "none":
            rows = graph[keys.CELL][0]
            graph[keys.PBC] = (torch.linalg.norm(rows, dim=-1) > 0.0).reshape(1, 3)
            total = (torch.zeros(1, dtype=dtype, device=device) if charge is None
                     else charge.to(device=device, dtype=dtype).reshape(1))
            graph[keys.TOTAL_CHARGE] = total
        out = self.model(graph, True, compute_stress, False)
        result: Dict[str, torch.Tensor] = {
            keys.TOTAL_ENERGY: out[keys.TOTAL_ENERGY][0].detach(),
            keys.ATOMIC_ENERGIES: out[keys.ATOMIC_ENERGIES].detach(),
            keys.FORCES: out[keys.FORCES],
            keys.EDGE_FORCES: out[keys.EDGE_FORCES],
        }
        if compute_stress:
            result[keys.STRESS] = out[keys.STRESS][0]
            result[keys.VIRIAL] = out[keys.VIRIAL][0]
        if keys.MAGNETIC_FORCES in out:
            result[keys.MAGNETIC_FORCES] = out[keys.MAGNETIC_FORCES]
        if keys.CHARGES in out:
            result[keys.CHARGES] = out[keys.CHARGES]
        return result

    @torch.jit.export
    def pair_forward(self, edge_vectors: torch.Tensor, atomic_numbers: torch.Tensor,
                     edge_index: torch.Tensor, num_local: int | None = None,
                     positions: torch.Tensor | None = None, cell: torch.Tensor | None = None,
                     charge: torch.Tensor | None = None) -> Dict[str, torch.Tensor]:
        """For engines that hand over pair vectors and ghost atoms (the LAMMPS pair style).

        edge_vectors [e, 3] Å (r_ij = r_j - r_i, image included), atomic_numbers [n] of
        local then ghost atoms, edge_index [2, e]; only the first ``num_local`` atoms
        (default: all) count. Returns energy [] eV (Σ of local atomic energies),
        atomic_energies [num_local] eV, edge_forces [e, 3] eV/Å = dE/dr_ij (a force +g on
        i and -g on j) and virial [3, 3] eV = -Σ r_ij ⊗ dE/dr_ij.

        A long-range model (``long_range`` not ``"none"``) also needs the local atoms'
        ``positions`` [num_local, 3] Å, the ``cell`` [3, 3] Å (rows; all zero for open
        boundaries) and the total ``charge`` [] e (None: neutral), and the local atoms must
        be every atom (one domain): its Coulomb sum runs over all of them. It adds forces
        [num_local, 3] eV/Å (the part not carried by pair vectors: add it to the local
        atoms), charges [num_local] e and lr_virial [3, 3] eV (the virial of those forces,
        included in ``virial``).
        """
        dtype = self._dtype()
        device = self.species_lookup.device
        species = self.species(atomic_numbers.to(device))
        local = species.shape[0] if num_local is None else num_local
        edge_index = edge_index.to(device=device, dtype=torch.long)
        vectors = edge_vectors.to(device=device, dtype=dtype).detach().requires_grad_(True)
        edge_graph = torch.zeros(vectors.shape[0], dtype=torch.long, device=device)
        if self.long_range == "none":
            atomic = self.model.atomic_energies(vectors, species, edge_index)[:local]
            energy = atomic.sum()
            grads: List[torch.Tensor | None] = torch.autograd.grad(
                [energy], [vectors], allow_unused=True)
            grad = grads[0]
            if grad is None:  # no edges
                grad = torch.zeros_like(vectors)
            virial = virial_from_edge_gradients(grad, vectors.detach(), edge_graph, 1)[0]
            return {keys.TOTAL_ENERGY: energy.detach(), keys.ATOMIC_ENERGIES: atomic.detach(),
                    keys.EDGE_FORCES: grad, keys.VIRIAL: virial}
        if positions is None or cell is None:
            raise RuntimeError("this model has a long-range term (model.long_range): "
                               "pair_forward needs the local atoms' positions and the cell")
        total = (torch.zeros((), dtype=dtype, device=device) if charge is None
                 else charge.to(device=device, dtype=dtype))
        place = positions.to(device=device, dtype=dtype).detach().requires_grad_(True)
        box = cell.to(device=device, dtype=dtype).reshape(3, 3)
        strain = torch.zeros_like(box).requires_grad_(True)
        if hasattr(self.model, "energies_with_ghosts"):  # known when scripted
            atomic, charges = self.model.energies_with_ghosts(
                vectors, species, edge_index, local, place + place @ strain,
                box + box @ strain, total)
        else:
            raise RuntimeError("this model has no ghost-atom path for its long-range term")
        energy = atomic.sum()
        lr_grads: List[torch.Tensor | None] = torch.autograd.grad(
            [energy], [vectors, place, strain], allow_unused=True)
        grad = lr_grads[0]
        if grad is None:
            grad = torch.zeros_like(vectors)
        direct = lr_grads[1]
        forces = torch.zeros_like(place) if direct is None else -direct
        strain_grad = lr_grads[2]
        lr_virial = (torch.zeros_like(box) if strain_grad is None
                     else -0.5 * (strain_grad + strain_grad.transpose(0, 1)))
        virial = virial_from_edge_gradients(grad, vectors.detach(), edge_graph, 1)[0]
        return {keys.TOTAL_ENERGY: energy.detach(), keys.ATOMIC_ENERGIES: atomic.detach(),
                keys.EDGE_FORCES: grad, keys.VIRIAL: virial + lr_virial,
                keys.FORCES: forces, keys.CHARGES: charges.detach(), "lr_virial": lr_virial}

    @torch.jit.export
    def llpr(self, positions: torch.Tensor, atomic_numbers: torch.Tensor,
             edge_index: torch.Tensor, cell_shifts: torch.Tensor, cell: torch.Tensor,
             compute_forces: bool = True) -> Dict[str, torch.Tensor]:
        """LLPR uncertainty of one structure (inputs as :meth:`forward`), float64:
        energy_std [] eV, energies_std [n] eV (each atom's own σ_i), ood_score [n]
        (sqrt(f_iᵀ(Σ + ς² I)⁻¹f_i / its median over validation atoms)) and, with
        ``compute_forces``, forces_std [n] eV/Å (norm over x, y, z; one backward pass per
        row of ``llpr_rows``)."""
        if not self.has_llpr:
            raise RuntimeError("no LLPR fit attached: fit one with `mlip-gnn uncertainty "
                               "fit RUN_DIR` and export again")
        dtype = self._dtype()
        device = self.species_lookup.device
        n = positions.shape[0]
        positions = positions.to(device=device, dtype=dtype)
        species = self.species(atomic_numbers.to(device))
        edge_index = edge_index.to(device=device, dtype=torch.long)
        vectors = (positions[edge_index[1]] - positions[edge_index[0]]
                   + cell_shifts.to(device=device, dtype=dtype)
                   @ cell.to(device=device, dtype=dtype))
        vectors = vectors.detach().requires_grad_(compute_forces)
        if hasattr(self.model, "atomic_energies_and_features"):  # known when scripted
            _, features = self.model.atomic_energies_and_features(vectors, species,
                                                                  edge_index)
        else:
            raise RuntimeError("this model has no last-layer features for LLPR")
        f = features.detach().to(torch.float64)  # [n, d]
        local = ((f @ self.llpr_inverse) * f).sum(-1)  # [n]
        total = f.sum(0)
        energy2 = self.llpr_alpha2_energy * (total @ self.llpr_inverse @ total)
        out: Dict[str, torch.Tensor] = {
            "energy_std": energy2.clamp(min=0.0).sqrt(),
            "energies_std": (self.llpr_alpha2_energy * local).clamp(min=0.0).sqrt(),
            "ood_score": (local / self.llpr_ood_reference).clamp(min=0.0).sqrt(),
        }
        if compute_forces:
            projected = self.llpr_rows.to(dtype) @ features.sum(0)  # [r]
            variance = torch.zeros(n, dtype=torch.float64, device=device)
            rows = projected.shape[0]
            for k in range(rows):
                grads: List[torch.Tensor | None] = torch.autograd.grad(
                    [projected[k]], [vectors], retain_graph=k + 1 < rows, allow_unused=True)
                grad = grads[0]
                if grad is not None:
                    force = forces_from_edge_gradients(grad, edge_index, n)
                    variance = variance + (force.to(torch.float64) ** 2).sum(-1)
            out["forces_std"] = (self.llpr_alpha2_forces * variance).sqrt()
        return out
