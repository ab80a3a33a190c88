"""The dense per-edge tensor product against e3nn's generic TensorProduct."""

import pytest
import torch
from e3nn import o3

from mlip_gnn.nn.edge_tp import EdgeTensorProduct
from mlip_gnn.nn.irreps import natural_irreps


def _e3nn_reference(irreps_in, irreps_sh, irreps_out, tp, h, y, w):
    """e3nn "uvu", one output slot per path, slots of the same irrep added / sqrt(n)."""
    mid = o3.Irreps([(irreps_out[k].mul, irreps_out[k].ir) for _, _, k in tp.paths])
    instructions = [(i, j, p, "uvu", True) for p, (i, j, _) in enumerate(tp.paths)]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # e3nn builds its constants in the default dtype
    try:
        ref = o3.TensorProduct(irreps_in, irreps_sh, mid, instructions,
                               shared_weights=False, internal_weights=False)
    finally:
        torch.set_default_dtype(previous)
    slots = ref(h, y, w)
    out = []
    for k in range(len(irreps_out)):
        paths = [p for p, (_, _, kk) in enumerate(tp.paths) if kk == k]
        out.append(sum(slots[:, mid.slices()[p]] for p in paths) / len(paths) ** 0.5)
    return torch.cat(out, dim=-1)


@pytest.mark.parametrize("hidden_ell,max_ell", [(0, 3), (1, 3), (2, 2), (1, 1)])
def test_matches_e3nn(hidden_ell, max_ell):
    channels = 5
    irreps_in = natural_irreps(channels, hidden_ell)
    irreps_sh = o3.Irreps.spherical_harmonics(max_ell)
    irreps_out = natural_irreps(channels, max_ell)
    tp = EdgeTensorProduct(irreps_in, irreps_sh, irreps_out).double()
    gen = torch.Generator().manual_seed(hidden_ell)
    h = torch.randn(7, irreps_in.dim, generator=gen, dtype=torch.float64)
    y = torch.randn(7, irreps_sh.dim, generator=gen, dtype=torch.float64)
    w = torch.randn(7, tp.num_paths * channels, generator=gen, dtype=torch.float64)
    expected = _e3nn_reference(irreps_in, irreps_sh, irreps_out, tp, h, y, w)
    out = tp.to_irreps(tp(tp.node_inputs(h), y, w))
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
