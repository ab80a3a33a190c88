"""The potential: atomic graph → per-atom energies → energy, forces, virial, stress."""

from typing import Dict, List, Tuple

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from mlip_gnn.data import keys
from mlip_gnn.defaults import ARCHITECTURE
from mlip_gnn.model.derivatives import (forces_from_edge_gradients, stress_from_virial,
                                        virial_from_edge_gradients)
from mlip_gnn.nn import init_scheme as _init_scheme
from mlip_gnn.nn import (EDGE_SPIN_CHANNELS, BesselBasis, GatedUpdate, Interaction,
                         PolynomialEnvelope, ScalarReadout, SymmetricContraction,
                         D3Dispersion, LatentCoulomb, ZBLRepulsion, natural_irreps,
                         spin_module)
from mlip_gnn.nn.long_range import periodic_frames

__all__ = ["Potential"]


@compile_mode("script")
class _Layer(torch.nn.Module):
    """Message passing, many-body product and gated residual update; readout of scalars.

    The two-body features A keep every l ≤ max_ell (``irreps_a``); the product couples
    them up to ``correlation`` and contracts onto the node irreps ``irreps_out``.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_a: o3.Irreps, irreps_out: o3.Irreps,
                 irreps_sh: o3.Irreps, num_bessel: int, radial_mlp: List[int],
                 avg_num_neighbors: float, correlation: int, num_species: int,
                 readout_hidden: int, residual: bool, higher_orders: str):
        super().__init__()
        self.interaction = Interaction(irreps_in, irreps_sh, irreps_a, num_bessel,
                                       radial_mlp, avg_num_neighbors)
        self.product = SymmetricContraction(irreps_a, irreps_out, correlation, num_species,
                                            higher_orders)
        self.update = GatedUpdate(irreps_in, irreps_out, irreps_out, residual)
        self.readout = ScalarReadout(irreps_out, readout_hidden)

    def forward(self, h: torch.Tensor, species: torch.Tensor, edge_attrs: torch.Tensor,
                edge_feats: torch.Tensor, sender: torch.Tensor, receiver: torch.Tensor):
        a = self.interaction(h, edge_attrs, edge_feats, sender, receiver)  # [n, irreps_a]
        b = self.product(a, species)
        h = self.update(b, h)
        return h, self.readout(h)


class Potential(torch.nn.Module):
    """E(3)-equivariant message-passing potential (NequIP ↔ MACE, set by ``correlation``).

    E_i = scale[z_i] · Σ_t readout_t(h_i^t) + shift[z_i] + E0[z_i] (+ ZBL), E = Σ_i E_i.
    Forces and stress are autograd derivatives of E (see :mod:`mlip_gnn.model.derivatives`).
    With ``spin="collinear"`` the graph carries per-atom moments (``keys.MAGMOMS``) that
    enter through time-reversal-even invariants (:mod:`mlip_gnn.nn.spin`), and -∂E/∂m is
    returned as ``keys.MAGNETIC_FORCES``; with ``"none"`` (default) nothing changes.
    With ``long_range="latent"`` the last layer's invariant features (with ``lr_species``
    beside the species embedding, so an atom without neighbours keeps its species) also
    give each atom a latent charge (``keys.CHARGES``; the frame's ``keys.TOTAL_CHARGE``
    honoured) whose Gaussian-smeared Coulomb energy (Ewald / PME for periodic frames, a
    direct sum for open ones: :mod:`mlip_gnn.nn.long_range`) is added to the atomic
    energies; positions and
    cell then enter directly as well as through the edges, and forces and stress are still
    derivatives of the one energy. With ``dispersion="d3bj"`` a fixed D3(BJ) baseline
    (:mod:`mlip_gnn.nn.dispersion`) joins the atomic energies the same way.
    ``init_scheme`` names the start scale (:mod:`mlip_gnn.nn.init_scheme`).
    Build it with :func:`mlip_gnn.model.build_model`.
    """

    def __init__(self, species: List[int], r_max: float, e0s: List[float],
                 scale: float, shift: float, avg_num_neighbors: float, num_layers: int,
                 num_channels: int, max_ell: int, hidden_ell: int, correlation: int,
                 num_bessel: int, envelope_p: int, radial_mlp: List[int], zbl: bool,
                 spin: str, magmom_scale: float, long_range: str = "none",
                 lr_smearing: float = 1.0, lr_kspace: str = "ewald",
                 lr_wavelength: float = 0.0, lr_species: bool = False,
                 dispersion: str = "none",
                 d3_functional: str = "pbe",
                 init_scheme: str = ARCHITECTURE["init_scheme"]):
        super().__init__()
        num_species = len(species)
        scheme = _init_scheme(init_scheme)
        self.atomic_numbers: List[int] = list(species)
        self.r_max = float(r_max)
        # message-passing steps: an atom's energy depends on atoms up to num_layers × r_max
        self.num_layers: int = int(num_layers)
        self.use_zbl = bool(zbl)
        self.spin_mode: str = spin
        self.spin = spin_module(spin, num_channels, magmom_scale, num_species)
        num_radial = num_bessel * (1 if self.spin is None else EDGE_SPIN_CHANNELS)

        self.embedding = torch.nn.Embedding(num_species, num_channels)
        self.radial_basis = BesselBasis(r_max, num_bessel, scheme.radial)
        self.envelope = PolynomialEnvelope(r_max, envelope_p)
        irreps_sh = o3.Irreps.spherical_harmonics(max_ell)
        self.spherical_harmonics = o3.SphericalHarmonics(irreps_sh, normalize=True,
                                                         normalization="component")
        layers = []
        irreps_in = o3.Irreps(f"{num_channels}x0e")
        irreps_a = natural_irreps(num_channels, max_ell)
        for t in range(num_layers):
            last = t == num_layers - 1
            # the last layer feeds only the scalar readout, so it keeps only scalars
            irreps_out = natural_irreps(num_channels, 0 if last else hidden_ell)
            layers.append(_Layer(irreps_in, irreps_a, irreps_out, irreps_sh, num_radial,
                                 radial_mlp,
                                 avg_num_neighbors, correlation, num_species,
                                 readout_hidden=16 if last else 0, residual=t > 0,
                                 higher_orders=scheme.higher_orders))
            irreps_in = irreps_out
        self.layers = torch.nn.ModuleList(layers)
        self.zbl = ZBLRepulsion(species) if zbl else None
        self.long_range_mode: str = long_range
        self.lr_species: bool = lr_species
        charge_features = 2 * num_channels if lr_species else num_channels
        self.long_range = (LatentCoulomb(charge_features, lr_smearing, lr_kspace, lr_wavelength)
                           if long_range == "latent" else None)
        self.dispersion_mode: str = dispersion
        self.dispersion = (D3Dispersion(list(species), d3_functional)
                           if dispersion == "d3bj" else None)
        # positions and cell enter directly, not only through the edges
        self.beyond_cutoff: bool = self.long_range is not None or self.dispersion is not None

        self.register_buffer("e0", torch.tensor(e0s, dtype=torch.float64))  # [S] eV
        self.register_buffer("scale", torch.full((num_species,), float(scale),
                                                 dtype=torch.float64))  # [S] eV
        self.register_buffer("shift", torch.full((num_species,), float(shift),
                                                 dtype=torch.float64))  # [S] eV

    def atomic_energies(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                        edge_index: torch.Tensor, magmoms: torch.Tensor | None = None
                        ) -> torch.Tensor:
        """Per-atom energies [n] eV from edge vectors [e, 3] Å, species [n], edges [2, e]
        and, for a spin model, moments [n] μB."""
        if self.beyond_cutoff:
            raise ValueError("this model has a long-range term, which needs positions and "
                             "the cell: call the model on a whole graph, not on edges alone")
        return self._energies(edge_vectors, species, edge_index, False, magmoms)[0]

    @torch.jit.export
    def atomic_energies_and_features(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                                     edge_index: torch.Tensor,
                                     magmoms: torch.Tensor | None = None
                                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per-atom energies [n] eV and last-layer features f [n, d]: E_i = w·f_i + shift
        + E0 (+ ZBL) with f_i = scale[z_i] · [each layer's ``readout.features``]; the
        features a last-layer uncertainty works on (:mod:`mlip_gnn.uncertainty.readout`)."""
        energies, features, _ = self._energies(edge_vectors, species, edge_index, True,
                                               magmoms)
        return energies, features

    @torch.jit.export
    def energies_with_ghosts(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                             edge_index: torch.Tensor, num_local: int,
                             positions: torch.Tensor, cell: torch.Tensor,
                             total_charge: torch.Tensor
                             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """For an engine with ghost atoms, on one domain that holds every atom (one rank):
        the first ``num_local`` atoms' energies [num_local] eV, each with its share of the
        electrostatic energy, and their charges [num_local] e. The graph (edge vectors,
        species, edges) spans local and ghost atoms out to num_layers × r_max, so the
        local atoms' features are exact; ``positions`` [num_local, 3] Å and ``cell``
        [3, 3] Å (rows; all zero: open boundaries) place the charges, ``total_charge`` []
        e. A model without the term returns its local energies and no charges."""
        atomic, _, h = self._energies(edge_vectors, species, edge_index, False, None)
        atomic = atomic[:num_local]
        pbc = (torch.linalg.norm(cell, dim=-1) > 0.0).reshape(1, 3)
        batch = torch.zeros(num_local, dtype=torch.long, device=atomic.device)
        atomic = atomic + self._dispersion_energies(species[:num_local], positions,
                                                    cell.reshape(1, 3, 3), pbc, batch)
        long_range = self.long_range
        if long_range is None:
            return atomic, atomic.new_zeros(0)
        h = self._charge_features(h[:num_local], species[:num_local])
        shares, charges = long_range(h, positions, cell.reshape(1, 3, 3), pbc,
                                     batch, total_charge.reshape(1).to(atomic.dtype))
        return atomic + shares, charges

    def _charge_features(self, h: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        """What the charge heads see: the last layer's node features h [n, C], with
        ``lr_species`` beside the species embedding [n, C] (h is zero for an atom with no
        neighbour within the cutoff, the embedding never)."""
        if self.lr_species:
            return torch.cat([h, self.embedding(species)], dim=-1)
        return h

    def _energies(self, edge_vectors: torch.Tensor, species: torch.Tensor,
                  edge_index: torch.Tensor, with_features: bool,
                  magmoms: torch.Tensor | None = None
                  ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Local atomic energies [n], last-layer features [n, d] (empty unless
        ``with_features``) and the last layer's node features h [n, C]."""
        sender = edge_index[0]
        receiver = edge_index[1]
        lengths = torch.linalg.norm(edge_vectors, dim=-1)  # [e]
        edge_feats = self.radial_basis(lengths) * self.envelope(lengths).unsqueeze(-1)
        edge_attrs = self.spherical_harmonics(edge_vectors)  # [e, (max_ell+1)²]
        h = self.embedding(species)  # [n, C]
        energy = torch.zeros(species.shape[0], dtype=edge_vectors.dtype,
                             device=edge_vectors.device)
        spin = self.spin
        if spin is not None:
            if magmoms is None:
                raise ValueError("this model has spin 'collinear' and needs the magnetic "
                                 "moments of the atoms (magmoms [n], μB)")
            moments = magmoms.to(edge_vectors.dtype)  # [n] μB
            h = h + spin.node_features(moments)
            edge_feats = spin.edge_features(edge_feats, moments, sender, receiver)
            energy = energy + spin.onsite_energy(moments, species)
        features: List[torch.Tensor] = []
        for layer in self.layers:
            h, e_layer = layer(h, species, edge_attrs, edge_feats, sender, receiver)
            energy = energy + e_layer
            if with_features:
                features.append(layer.readout.features(h))
        scale = self.scale[species]
        energy = scale * energy + self.shift[species] + self.e0[species]
        zbl = self.zbl
        if zbl is not None:
            pair = zbl(species[sender], species[receiver], lengths)  # [e]
            energy = energy.index_add(0, receiver, pair)
        if not with_features:
            return energy, energy.new_zeros((0, 0)), h
        return energy, scale.unsqueeze(-1) * torch.cat(features, dim=-1), h

    def forward(self, data: Dict[str, torch.Tensor], compute_forces: bool = True,
                compute_stress: bool = False, training: bool = False
                ) -> Dict[str, torch.Tensor]:
        """Energy [g], atomic energies [n]; forces [n, 3], virial and stress [g, 3, 3] on
        request. ``training`` keeps the graph of the derivatives for a force loss."""
        positions = data[keys.POSITIONS]
        species = data[keys.SPECIES]
        edge_index = data[keys.EDGE_INDEX]
        cell = data[keys.CELL]
        batch = data[keys.BATCH]
        num_graphs = cell.shape[0]
        sender = edge_index[0]
        receiver = edge_index[1]
        shifts = data[keys.EDGE_CELL_SHIFT]
        edge_graph = batch[sender]  # [e]
        edge_vectors = (positions[receiver] - positions[sender]
                        + torch.einsum("ei,eij->ej", shifts, cell[edge_graph]))
        need_grad = compute_forces or compute_stress
        if need_grad:
            # a leaf of its own: pair forces dE/dr_ij come straight from autograd
            edge_vectors = edge_vectors.detach().requires_grad_(True)
        magmoms = self._magmoms(data, need_grad)

        inputs = [edge_vectors] if magmoms is None else [edge_vectors, magmoms]
        lr_first = len(inputs)  # where the long-range leaves start in ``inputs``
        charges: torch.Tensor | None = None
        long_range = self.long_range
        if not self.beyond_cutoff:
            # through the attribute: compile_energy may have replaced it
            atomic = self.atomic_energies(edge_vectors, species, edge_index, magmoms)  # [n]
        else:
            atomic, _, h = self._energies(edge_vectors, species, edge_index, False, magmoms)
            lr_positions, lr_cell, lr_leaves = self._long_range_inputs(
                positions, cell, batch, compute_forces, compute_stress)
            inputs = inputs + lr_leaves
            pbc = self._pbc(data)
            atomic = atomic + self._dispersion_energies(species, lr_positions, lr_cell, pbc,
                                                        batch)
            if long_range is not None:
                lr_energies, charges = long_range(self._charge_features(h, species),
                                                  lr_positions, lr_cell, pbc, batch,
                                                  self._total_charge(data))
                atomic = atomic + lr_energies
        energy = torch.zeros(num_graphs, dtype=atomic.dtype, device=atomic.device)
        energy = energy.index_add(0, batch, atomic)
        out: Dict[str, torch.Tensor] = {keys.TOTAL_ENERGY: energy,
                                        keys.ATOMIC_ENERGIES: atomic}
        if charges is not None:
            out[keys.CHARGES] = charges if training else charges.detach()
        if not need_grad:
            return out

        grads: List[torch.Tensor | None] = torch.autograd.grad(
            [energy.sum()], inputs, create_graph=training, allow_unused=True)
        edge_grad = grads[0]
        if edge_grad is None:  # no edges at all
            edge_grad = torch.zeros_like(edge_vectors)
        out[keys.EDGE_FORCES] = edge_grad
        if magmoms is not None:
            moment_grad = grads[1]
            out[keys.MAGNETIC_FORCES] = (-moment_grad if moment_grad is not None
                                         else torch.zeros_like(magmoms))
        if compute_forces:
            forces = forces_from_edge_gradients(edge_grad, edge_index, positions.shape[0])
            if self.beyond_cutoff:
                position_grad = grads[lr_first]  # dE/dr of the charges' direct dependence
                if position_grad is not None:
                    forces = forces - position_grad
            out[keys.FORCES] = forces
        if compute_stress:
            virial = virial_from_edge_gradients(edge_grad, edge_vectors, edge_graph,
                                                num_graphs)
            if self.beyond_cutoff:
                strain_grad = grads[len(inputs) - 1]  # dE/dε of the direct dependence
                if strain_grad is not None:
                    virial = virial - 0.5 * (strain_grad + strain_grad.transpose(-1, -2))
            stress, _ = stress_from_virial(virial, cell)
            out[keys.VIRIAL] = virial
            out[keys.STRESS] = stress
        return out

    def _long_range_inputs(self, positions: torch.Tensor, cell: torch.Tensor,
                           batch: torch.Tensor, compute_forces: bool, compute_stress: bool
                           ) -> Tuple[torch.Tensor, torch.Tensor, List[torch.Tensor]]:
        """Positions and cells the long-range term sees, and the leaves to differentiate:
        the positions (its direct part of the forces) and a homogeneous strain ε [g, 3, 3]
        at zero applied to positions and cell (its direct part of the virial, -∂E/∂ε)."""
        leaves: List[torch.Tensor] = []
        if not (compute_forces or compute_stress):
            return positions, cell, leaves
        lr_positions = positions.detach().requires_grad_(True)
        leaves.append(lr_positions)
        lr_cell = cell
        if compute_stress:
            strain = torch.zeros_like(cell).requires_grad_(True)
            leaves.append(strain)
            lr_positions = lr_positions + torch.einsum("ni,nij->nj", lr_positions,
                                                       strain[batch])
            lr_cell = cell + torch.bmm(cell, strain)
        return lr_positions, lr_cell, leaves

    def _dispersion_energies(self, species: torch.Tensor, positions: torch.Tensor,
                             cell: torch.Tensor, pbc: torch.Tensor, batch: torch.Tensor
                             ) -> torch.Tensor:
        """Per-atom D3 energies [n] eV, frame by frame (zeros without the baseline)."""
        energies = torch.zeros(positions.shape[0], dtype=positions.dtype,
                               device=positions.device)
        dispersion = self.dispersion
        if dispersion is None:
            return energies
        periodic = periodic_frames(pbc)
        for b in range(cell.shape[0]):
            atoms = torch.nonzero(batch == b).squeeze(-1)
            share = dispersion(species.index_select(0, atoms),
                               positions.index_select(0, atoms), cell[b], periodic[b])
            energies = energies.index_add(0, atoms, share)
        return energies

    @staticmethod
    def _pbc(data: Dict[str, torch.Tensor]) -> torch.Tensor:
        """[g, 3] periodic directions; without the field, a frame with a cell of nonzero
        volume counts as periodic in all three and one without as open."""
        if keys.PBC in data:
            return data[keys.PBC].to(torch.bool)
        cell = data[keys.CELL]
        periodic = torch.abs(torch.linalg.det(cell)) > 0.0  # [g]
        return periodic.unsqueeze(-1).expand(cell.shape[0], 3)

    @staticmethod
    def _total_charge(data: Dict[str, torch.Tensor]) -> torch.Tensor:
        """[g] total charge of each frame, e (zero where the graph does not say)."""
        cell = data[keys.CELL]
        if keys.TOTAL_CHARGE in data:
            return data[keys.TOTAL_CHARGE].to(device=cell.device, dtype=cell.dtype)
        return torch.zeros(cell.shape[0], dtype=cell.dtype, device=cell.device)

    def _magmoms(self, data: Dict[str, torch.Tensor], need_grad: bool
                 ) -> torch.Tensor | None:
        """The graph's moments [n] μB for a spin model (a leaf when derivatives are
        wanted, for -∂E/∂m); None for a spin-free one, which ignores any moments."""
        if self.spin is None:
            return None
        if keys.MAGMOMS not in data:
            raise ValueError("this model has spin 'collinear' and needs the magnetic "
                             "moments of the atoms (graph field '" + keys.MAGMOMS + "')")
        magmoms = data[keys.MAGMOMS].to(data[keys.POSITIONS].dtype)
        if need_grad:
            magmoms = magmoms.detach().requires_grad_(True)
        return magmoms
