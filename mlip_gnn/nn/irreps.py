"""Helpers for choosing irreducible representations."""

from typing import List, Tuple

from e3nn import o3

__all__ = ["natural_irreps", "tensor_product_instructions", "channel_group_index"]


def natural_irreps(channels: int, max_ell: int) -> o3.Irreps:
    """``channels`` copies of each l ≤ max_ell with parity (-1)^l: 0e + 1o + 2e + …"""
    return o3.Irreps([(channels, (ell, (-1) ** ell)) for ell in range(max_ell + 1)])


def tensor_product_instructions(irreps_in1: o3.Irreps, irreps_in2: o3.Irreps,
                                irreps_target: o3.Irreps, mode: str
                                ) -> Tuple[o3.Irreps, List[Tuple[int, int, int, str, bool]]]:
    """Every path i1 ⊗ i2 → ir_out with ir_out in ``irreps_target``, one output slot per path.

    ``mode`` is ``"uvu"`` (output multiplicity of input 1, weighted per edge) or ``"uuu"``
    (channel-wise, all multiplicities equal).
    """
    targets = {ir for _, ir in irreps_target}
    irreps_out = []
    instructions = []
    for i1, (mul, ir1) in enumerate(irreps_in1):
        for i2, (_, ir2) in enumerate(irreps_in2):
            for ir_out in ir1 * ir2:
                if ir_out in targets:
                    instructions.append((i1, i2, len(irreps_out), mode, True))
                    irreps_out.append((mul, ir_out))
    return o3.Irreps(irreps_out), instructions


def channel_group_index(irreps: o3.Irreps) -> List[int]:
    """For each component of ``irreps``, the index of its (irrep, channel) group.

    Used to broadcast one weight per channel and irrep over the 2l+1 components.
    """
    index: List[int] = []
    group = 0
    for mul, ir in irreps:
        for _ in range(mul):
            index.extend([group] * ir.dim)
            group += 1
    return index
