import pytest

from mlip_gnn.train import distributed as dist
from mlip_gnn.train.batching import ResumableSampler, ShardSampler


def test_single_process_by_default():
    info = dist.detect({})
    assert not info.is_distributed and info.rank == 0 and dist.is_main()


def test_torchrun_environment():
    info = dist.detect({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (info.rank, info.local_rank, info.world_size, info.launcher) == (3, 1, 4, "torchrun")
    assert info.master_addr is None  # env:// rendezvous set up by torchrun


def test_slurm_environment():
    env = {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8",
           "SLURM_JOB_NODELIST": "gpu[07-09,12]", "SLURM_JOB_ID": "123"}
    info = dist.detect(env)
    assert (info.rank, info.local_rank, info.world_size) == (5, 1, 8)
    assert info.master_addr == "gpu07" and info.master_port == 20123
    env["SLURM_LAUNCH_NODE_IPADDR"] = "10.0.0.2"
    assert dist.detect(env).master_addr == "10.0.0.2"
    assert dist.detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).world_size == 1


@pytest.mark.parametrize("nodelist, host", [("node1", "node1"), ("a[3-4],b1", "a3"),
                                             ("x-1[001,5]", "x-1001")])
def test_first_slurm_host(nodelist, host):
    assert dist.first_slurm_host(nodelist) == host


def test_samplers_cover_data_and_resume_mid_epoch():
    data = list(range(10))
    shards = [list(ShardSampler(data, 3, r)) for r in range(3)]
    assert sorted(sum(shards, [])) == data
    sampler = ResumableSampler(data, 1, 0, seed=7)
    sampler.set_epoch(2)
    order = list(sampler)
    assert sorted(order) == data
    sampler.set_epoch(2, start=4)
    assert list(sampler) == order[4:] and len(sampler) == 6
    sampler.set_epoch(3)
    assert list(sampler) != order
