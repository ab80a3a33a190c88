"""``preprocess``: on-disk shards, their statistics, resuming after a kill, bad frames."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from mlip_gnn.cli.main import main
from mlip_gnn.data import (DataError, DatasetStatistics, DiskFrames, GraphDataset, SpeciesTable,
                           average_num_neighbours, force_rms, interaction_energy_per_atom,
                           read_configurations, reference_energies)
from mlip_gnn.data.preprocess import PreprocessOptions, preprocess
from ondisk_support import (assert_same_tree, same_configuration, write_cu, write_rattled_cu,
                             write_with_bad_frame)

R_MAX = 4.0


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    return [write_cu(root / "a.xyz", 8, seed=1), write_rattled_cu(root / "b.xyz", 9, seed=2)]


@pytest.fixture(scope="module")
def dataset(inputs, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "ds"
    preprocess(inputs, out, PreprocessOptions(r_max=R_MAX, shard_size=4, require=()))
    return out


def test_frames_read_back_exactly_in_file_order(inputs, dataset):
    configs = [c for path in inputs for c in read_configurations(path)]
    frames = DiskFrames([dataset], max_open=2)  # fewer maps than shards: maps get closed
    assert len(frames) == len(configs) == 17
    for i in [5, 0, 16, 11, 3, 12, 5]:
        assert same_configuration(frames[i], configs[i])
        assert frames[i].source == configs[i].source
    assert list(frames.config_types()) == [c.config_type for c in configs]
    assert list(frames.per_frame("num_atoms")) == [c.num_atoms for c in configs]


def test_stored_statistics_equal_those_of_the_frames_in_memory(inputs, dataset):
    configs = [c for path in inputs for c in read_configurations(path)]
    species = SpeciesTable.from_configurations(configs)
    stats = DiskFrames([dataset]).statistics()
    assert stats.zs == species.atomic_numbers and stats.num_frames == 17
    assert stats.labelled == {"energy": 17, "forces": 17,
                              "stress": sum(c.stress is not None for c in configs)}
    e0 = reference_energies(configs, species)
    assert stats.reference_energies() == pytest.approx(e0, rel=1e-10)
    isolated = reference_energies(configs, species, "isolated")
    assert stats.reference_energies("isolated") == isolated
    mean = interaction_energy_per_atom(configs, species, e0).mean()
    assert stats.mean_interaction_energy(e0) == pytest.approx(mean, rel=1e-10, abs=1e-12)
    assert stats.force_rms() == pytest.approx(force_rms(configs), rel=1e-12)
    graphs = GraphDataset(configs, R_MAX, species).graphs
    assert stats.average_num_neighbours() == pytest.approx(average_num_neighbours(graphs),
                                                           rel=1e-12)


def test_statistics_merge_is_the_statistics_of_the_union(inputs):
    configs = [c for path in inputs for c in read_configurations(path)]
    whole, first, second = (DatasetStatistics(r_max=R_MAX) for _ in range(3))
    for i, conf in enumerate(configs):
        conf = conf if i % 3 else _as_aluminium(conf)  # two species, unevenly spread
        whole.add(conf, 7)
        (first if i < 10 else second).add(conf, 7)
    merged = first.merge(second)
    assert merged.zs == whole.zs == [13, 29]
    for name in ("ata", "atb", "fraction_sum"):
        np.testing.assert_allclose(getattr(merged, name), getattr(whole, name), rtol=1e-12)
    assert merged.atoms_per_species == whole.atoms_per_species
    assert merged.reference_energies() == pytest.approx(whole.reference_energies(), rel=1e-9)
    assert DatasetStatistics.from_dict(merged.to_dict()) == merged


def test_statistics_minus_a_subset_are_those_of_the_rest(inputs):
    configs = [c for path in inputs for c in read_configurations(path)]
    whole, part, rest = (DatasetStatistics(r_max=R_MAX) for _ in range(3))
    for i, conf in enumerate(configs):
        conf = _as_aluminium(conf) if i == 4 else conf  # the only Al atom: in the part
        whole.add(conf, i)
        (part if i in (2, 4, 9) else rest).add(conf, i)
    left = whole.minus(part)
    assert left.zs == rest.zs == [29]  # Al left with its frame
    assert left.num_edges == rest.num_edges and left.labelled == rest.labelled
    assert left.reference_energies() == pytest.approx(rest.reference_energies(), rel=1e-9)
    assert left.force_rms() == pytest.approx(rest.force_rms(), rel=1e-12)


def _as_aluminium(conf):
    import dataclasses

    numbers = conf.atomic_numbers.copy()
    numbers[0] = 13
    return dataclasses.replace(conf, atomic_numbers=numbers)


@pytest.mark.slow  # starts worker processes
def test_parallel_run_gives_the_same_dataset(inputs, dataset, tmp_path):
    out = tmp_path / "parallel"
    preprocess(inputs, out, PreprocessOptions(r_max=R_MAX, shard_size=4, require=(),
                                              workers=2))
    assert_same_tree(out, dataset)


@pytest.mark.slow  # a real kill of a real process: ~20 s
def test_killed_run_resumes_to_the_same_dataset(tmp_path):
    files = [write_rattled_cu(tmp_path / f"in{i}.xyz", 30, seed=i) for i in range(4)]
    clean = tmp_path / "clean"
    preprocess(files, clean, PreprocessOptions(r_max=R_MAX, shard_size=2, require=()))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "mlip_gnn", "preprocess", *map(str, files), "-o",
               str(out), "--r-max", str(R_MAX), "--shard-size", "2", "--require",
               "--workers", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("shards/0000[01]-*"))) < 3:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "dataset.json").exists(), "finished before the kill: enlarge the input"
    kept = len(list(out.glob("shards/[0-9]*-*")))  # not the half-written .tmp-*
    assert kept >= 3
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert f"resuming, {kept} finished shard(s) kept" in rerun.stderr
    assert_same_tree(out, clean)


def test_bad_frame_stops_the_run_naming_file_and_frame(tmp_path, capsys):
    bad = write_with_bad_frame(tmp_path / "bad.xyz", bad=2)
    status = main(["preprocess", str(bad), "-o", str(tmp_path / "ds"), "--workers", "1"])
    assert status == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{bad}, frame 2: field 'energy' is NaN or Inf" in err


def test_bad_frame_is_skipped_and_listed(tmp_path, capsys):
    bad = write_with_bad_frame(tmp_path / "bad.xyz", bad=2)
    out = tmp_path / "ds"
    assert main(["preprocess", str(bad), "-o", str(out), "--on-error", "skip",
                 "--require", "energy", "--workers", "1", "--shard-size", "2"]) == 0
    assert f"skipped: {bad}, frame 2: field 'energy' is NaN" in capsys.readouterr().err
    frames = DiskFrames([out])
    good = [c for i, c in enumerate(read_configurations(bad, index="3:"))]
    assert len(frames) == 5
    assert all(same_configuration(frames[2 + i], c) for i, c in enumerate(good))
    assert frames[2].source == f"{bad}, frame 3"


def test_missing_required_label_and_changed_options_are_errors(tmp_path):
    path = write_rattled_cu(tmp_path / "cu.xyz", 3, seed=0)  # no stress
    with pytest.raises(DataError, match=r"cu.xyz, frame 0: missing stress"):
        preprocess([path], tmp_path / "ds", PreprocessOptions(r_max=R_MAX,
                                                              require=("stress",)))
    assert not (tmp_path / "ds").exists()  # the failed run made it, and took it away
    preprocess([path], tmp_path / "ds", PreprocessOptions(r_max=R_MAX))
    with pytest.raises(DataError, match=r"other inputs or options \(changed: options\)"):
        preprocess([path], tmp_path / "ds", PreprocessOptions(r_max=3.0))


def test_training_refuses_another_r_max(dataset):
    from mlip_gnn.data.ondisk import check_r_max

    with pytest.raises(DataError, match=r"preprocessed with r_max 4.0 Å but data.r_max is 5.0"):
        check_r_max(DiskFrames([dataset]), 5.0, "data.r_max")
