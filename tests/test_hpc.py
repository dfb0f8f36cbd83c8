"""Runs split across processes or machines: --shard I/N + merge, the dask backend, records."""
import tempfile

import numpy as np
import pytest
import xarray as xr

from mcsim import study
from mcsim.config import StudyConfig
from mcsim.engine import assemble, run_shards

from .test_study import _same_result, _study_file


def _load(folder, name="chain"):
    with xr.open_dataset(folder / "tiny" / f"{name}.nc") as ds:
        return ds.load()


def test_three_parts_then_merge_equal_one_run(tmp_path, capsys):
    config = _study_file(tmp_path, networks=6, scales=(0.5, 1.0), shard_size=2)
    common = ["--config", str(config), "--n-jobs", "1"]
    for part in ("0/3", "1/3"):
        assert study.main(common + ["--out", str(tmp_path / "parts"), "--shard", part]) == 0
        assert "shards of other parts missing" in capsys.readouterr().out
        assert not (tmp_path / "parts" / "tiny" / "chain.nc").exists()
    assert study.main(common + ["--out", str(tmp_path / "parts"), "--shard", "2/3"]) == 0  # the last part assembles
    merged_by_last_part = _load(tmp_path / "parts")
    assert study.main(["merge", str(tmp_path / "parts" / "tiny")]) == 0
    assert study.main(common + ["--out", str(tmp_path / "one")]) == 0
    one = _load(tmp_path / "one")
    _same_result(merged_by_last_part, one)
    _same_result(_load(tmp_path / "parts"), one)


def test_merge_refuses_missing_shards_and_foreign_folders(tmp_path, capsys):
    config = _study_file(tmp_path, networks=4, scales=(0.5,), shard_size=2)
    assert study.main(["--config", str(config), "--n-jobs", "1", "--out", str(tmp_path), "--shard", "0/2"]) == 0
    capsys.readouterr()
    assert study.main(["merge", str(tmp_path / "tiny")]) == 2
    assert "shards missing" in capsys.readouterr().err
    assert study.main(["merge", str(tmp_path)]) == 2
    assert "study.json" in capsys.readouterr().err
    other = _study_file(tmp_path, networks=6, scales=(0.5,), shard_size=2)  # same name, another study
    assert study.main(["--config", str(other), "--n-jobs", "1", "--out", str(tmp_path)]) == 2
    assert "holds a different study" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["3/2", "-1/2", "x", "1"])
def test_bad_shard_exits_2(tmp_path, capsys, text):
    config = _study_file(tmp_path)
    assert study.main(["--config", str(config), "--out", str(tmp_path / "out"), f"--shard={text}"]) == 2
    assert "--shard" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_shard_defaults_from_slurm_array(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "4")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "3")
    assert study._shard(None) == (1, 3)
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID")
    assert study._shard(None) == (0, 1)


def test_dask_cluster_gives_the_same_data(tmp_path):
    """Two dask workers (a distributed.LocalCluster) and loky worker processes: bitwise equal."""
    distributed = pytest.importorskip("distributed")
    config = StudyConfig.load(_study_file(tmp_path, networks=6, scales=(0.5,), shard_size=2))
    loky = assemble(config, "chain", run_shards(config, tmp_path / "loky", n_jobs=2, log=lambda _: None))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        shards = run_shards(config, tmp_path / "dask", log=lambda _: None, backend="dask",
                            scheduler=c.scheduler_address)
        with distributed.Client(c.scheduler_address) as client:  # each worker was given a node-local numba cache
            caches = client.run(lambda: __import__("os").environ.get("NUMBA_CACHE_DIR"))
        assert len(caches) == 2 and all(d and d.startswith(tempfile.gettempdir()) for d in caches.values())
    dask = assemble(config, "chain", shards)
    for var in loky.data_vars:
        np.testing.assert_array_equal(loky[var].values, dask[var].values)
