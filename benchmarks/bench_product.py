"""The many-body product alone: the formulations we measured, at the same inputs.

    python benchmarks/bench_product.py --channels 64 128 --atoms 256 --threads 1

- ``symmetric``: ours (``mlip_gnn.nn.SymmetricContraction``): a complete basis of symmetric
  equivariant maps, pruned to the output irreps, with mirrored and otherwise redundant
  paths removed (symmetrised and orthonormalised), species weights folded into the basis
  once per call, evaluated on symmetric monomials with a Horner split.
- ``chained``: ν − 1 channel-wise ("uuu") e3nn tensor products of A with itself, every
  l ≤ max_ell kept between the steps, each order weighted per species, channel and irrep,
  then a linear map onto the output irreps (the first complete prototype).

Times one forward pass and one "training" pass (the product's output, its gradient with
respect to A, and the backward of a loss on that gradient, which is what a force loss
asks of it), float32, random inputs, median of ``--repeats``. Also prints the number of
independent paths and of monomials: per atom, the symmetric formulation's cost depends
on the monomials only, since the path weights are folded into the basis first.
"""

import argparse
import statistics
import time
from typing import Callable, List

import torch
from e3nn import o3
from e3nn.util.jit import compile_mode

from mlip_gnn.nn import SymmetricContraction, natural_irreps
from mlip_gnn.nn.symmetric import symmetric_basis


@compile_mode("trace")
class ChainedProduct(torch.nn.Module):
    """B = Linear(Σ_ν w_ν(z) ⊙ A^{⊗ν}) with A^{⊗ν} by chained "uuu" products (all l kept)."""

    def __init__(self, irreps_a: o3.Irreps, irreps_out: o3.Irreps, correlation: int,
                 num_species: int):
        super().__init__()
        self.tps = torch.nn.ModuleList()
        self.linears = torch.nn.ModuleList()
        for _ in range(correlation - 1):
            mid, instructions = [], []
            for i1, (mul, ir1) in enumerate(irreps_a):
                for i2, (_, ir2) in enumerate(irreps_a):
                    for ir in ir1 * ir2:
                        if ir in [r for _, r in irreps_a]:
                            instructions.append((i1, i2, len(mid), "uuu", False))
                            mid.append((mul, ir))
            self.tps.append(o3.TensorProduct(irreps_a, irreps_a, o3.Irreps(mid),
                                             instructions))
            self.linears.append(o3.Linear(o3.Irreps(mid), irreps_a))
        groups = [g for g, (mul, ir) in enumerate((m, ir) for m, ir in irreps_a
                                                   for _ in range(m)) for _ in range(ir.dim)]
        self.register_buffer("group", torch.tensor(groups))
        self.weights = torch.nn.Parameter(torch.randn(correlation, num_species,
                                                      max(groups) + 1))
        self.out = o3.Linear(irreps_a, irreps_out)

    def forward(self, a: torch.Tensor, species: torch.Tensor) -> torch.Tensor:
        w = self.weights[:, species][:, :, self.group]
        total, power = w[0] * a, a
        for nu, (tp, lin) in enumerate(zip(self.tps, self.linears)):
            power = lin(tp(power, a))
            total = total + w[nu + 1] * power
        return self.out(total)


def _median_ms(fn: Callable[[], None], repeats: int) -> float:
    fn()
    times: List[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _passes(module: torch.nn.Module, a0: torch.Tensor, species: torch.Tensor, repeats: int):
    def forward():
        with torch.no_grad():
            module(a0, species)

    def training():
        module.zero_grad(set_to_none=True)
        a = a0.clone().requires_grad_(True)
        out = module(a, species)
        (grad,) = torch.autograd.grad(out.square().sum(), a, create_graph=True)
        grad.square().sum().backward()

    return _median_ms(forward, repeats), _median_ms(training, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--channels", type=int, nargs="+", default=[64, 128])
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--max-ell", type=int, default=3)
    p.add_argument("--hidden-ell", type=int, default=1)
    p.add_argument("--correlation", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    natural = tuple((ell, (-1) ** ell) for ell in range(args.max_ell + 1))
    basis = symmetric_basis(natural, natural[:args.hidden_ell + 1], args.correlation)
    print(f"max_ell {args.max_ell}, hidden_ell {args.hidden_ell}, correlation "
          f"{args.correlation}, {args.atoms} atoms, float32, {args.threads} thread(s)")
    print(f"independent paths (per species and channel): {basis.tensor.shape[0]}; "
          f"symmetric monomials of degree < ν: {len(basis.monomials)}")
    print("| channels | formulation | params | forward ms | training pass ms |")
    print("|---|---|---|---|---|")
    for channels in args.channels:
        irreps_a = natural_irreps(channels, args.max_ell)
        irreps_b = natural_irreps(channels, args.hidden_ell)
        a0 = irreps_a.randn(args.atoms, -1)
        species = torch.zeros(args.atoms, dtype=torch.long)
        for name, module in (
                ("symmetric", SymmetricContraction(irreps_a, irreps_b, args.correlation, 1)),
                ("chained", ChainedProduct(irreps_a, irreps_b, args.correlation, 1))):
            module = module.float()
            params = sum(q.numel() for q in module.parameters())
            fwd, train = _passes(module, a0, species, args.repeats)
            print(f"| {channels} | {name} | {params:,} | {fwd:.1f} | {train:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
