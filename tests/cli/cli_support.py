"""A tiny EMT Cu data set and a small config for command-line tests (real model).

(A plain module, imported by name: the test folders have no ``__init__.py``, so a second
``conftest.py`` would clash with ``tests/conftest.py`` as the module ``conftest``.)
"""


import yaml
from emt_support import write_frames  # noqa: F401  (the CLI tests' data)


def config_writer(data_file, tmp_path):
    """``write(name, **sections)`` → path of a small CPU config file in ``tmp_path``."""

    def write(name="config.yaml", **sections):
        raw = {
            "device": "cpu", "dtype": "float64",
            "data": {"train": str(data_file), "r_max": 3.0, "batch_size": 2,
                     "valid_fraction": 0.34},
            "model": {"num_layers": 1, "num_channels": 4, "max_ell": 1, "hidden_ell": 0,
                      "correlation": 1, "num_bessel": 4, "radial_mlp": [8]},
            "train": {"max_epochs": 2},
            "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False},
        }
        for section, values in sections.items():
            raw.setdefault(section, {}).update(values)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw))
        return path

    return write
