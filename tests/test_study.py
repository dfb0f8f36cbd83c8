"""The study engine end to end: files, round trip, resume after SIGKILL, CLI errors."""
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mcsim
from mcsim import study
from mcsim.config import StudyConfig
from mcsim.engine import assemble, family_seed, plan, run_shards
from mcsim.report import statistics
from mcsim.shards import write_atomic

from .conftest import CHAIN

ROOT = Path(__file__).resolve().parents[1]
VOLATILE = {"created", "command"}  # provenance attributes that differ between two runs


def _study_file(tmp_path, networks=6, scales=(0.5, 1.0), iterations=3, shard_size=2, name="tiny",
                nets=(("chain", "chain.toml"),)):
    text = (f'description = "test study"\niterations = {iterations}\nnetworks = {networks}\n'
            f"scales = {list(scales)}\nseed = 7\nshard_size = {shard_size}\n")
    for net, file in nets:
        text += f'[[network]]\nname = "{net}"\nfile = "{ROOT / "studies" / "networks" / file}"\n'
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def _same_result(a: xr.Dataset, b: xr.Dataset):
    xr.testing.assert_identical(a.drop_attrs(), b.drop_attrs())  # data, coords and their attributes
    assert {k: v for k, v in a.attrs.items() if k not in VOLATILE} == \
        {k: v for k, v in b.attrs.items() if k not in VOLATILE}


def test_quick_scaling_study_writes_loadable_results(tmp_path, capsys):
    assert study.main(["scaling", "--quick", "--networks", "3", "--iterations", "2", "--n-jobs", "1",
                       "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    # the Lipschitz networks follow their SE; 3 networks of relu MAP are too few to show its gap,
    # so only that it has one verdict line is asserted
    assert "chain: consistent with SE at all" in printed and "talk_lifted: consistent with SE at all" in printed
    assert len(re.findall(r"^talk_relu: (consistent with SE|DEVIATES)", printed, re.M)) == 1
    folder = tmp_path / "scaling-quick"
    for name in ("chain", "talk_lifted", "talk_relu"):
        with xr.open_dataset(folder / f"{name}.nc") as ds:
            assert ds.tau_minus.dims == ("scale", "network", "iteration", "layer")
            assert ds.se_tau_minus.dims == ("scale", "iteration", "layer")
            assert ds.width.dims == ("scale", "layer") and ds.signal_power.dims == ("scale", "layer")
            assert ds.factor_forms.dims == ("scale",) and all(str(f).startswith("U_1 ") for f in ds.factor_forms.values)
            assert ds.verdict_tau_minus.dims == ("iteration", "layer")
            assert ds.attrs["network"] == name and ds.attrs["git_commit"] and ds.attrs["numba_version"]
            assert mcsim.NetworkSpec.from_dict(__import__("json").loads(ds.attrs["spec"])).depth == ds.sizes["layer"]
        if study.matplotlib_available():
            assert (folder / f"{name}.png").stat().st_size > 10_000
    assert (folder / "summary.txt").read_text().count("RMS slope at t=") == 6  # 2 quantities x 3 network types
    assert not list(folder.rglob("*.tmp"))


def test_study_data_equal_simulate_and_state_evolution(tmp_path):
    """The engine's shards are exactly mcsim.simulate and mcsim.state_evolution of the
    scaled spec with the documented seed, whatever the sharding."""
    config = StudyConfig.load(_study_file(tmp_path, networks=5, scales=(0.5,), shard_size=2))
    result = assemble(config, "chain", run_shards(config, tmp_path / "shards", n_jobs=1, log=lambda _: None))
    spec = config.specs["chain"].scaled(0.5)
    mc = mcsim.simulate(spec, 5, 3, seed=family_seed(7, "chain", 0.5), n_jobs=1)
    se = mcsim.state_evolution(spec, 3)
    for var in ("tau_plus", "tau_minus", "gamma_minus", "rm_overlap"):
        np.testing.assert_array_equal(result[var].isel(scale=0).values, mc[var].values)
        np.testing.assert_array_equal(result[f"se_{var}"].isel(scale=0).values, se[var].values)


def test_run_overrides_and_the_map(tmp_path, capsys):
    """A [[network]] entry's run table damps that network type only; its SE is the SE with
    memory; every study ends with the map of where the SE holds."""
    path = _study_file(tmp_path, networks=4, scales=(0.5, 1.0), iterations=2)
    chain = ROOT / "studies" / "networks" / "chain.toml"
    path.write_text(path.read_text() + f'[[network]]\nname = "chain_d05"\nfile = "{chain}"\n'
                    'run = { damping = 0.5 }\n')
    assert study.main(["--config", str(path), "--n-jobs", "1", "--out", str(tmp_path / "out")]) == 0
    summary = (tmp_path / "out" / "tiny" / "summary.txt").read_text()
    assert "where the SE holds" in summary and re.search(r"chain_d05 +damping 0.5, ae", summary)
    with xr.open_dataset(tmp_path / "out" / "tiny" / "chain_d05.nc") as ds:
        assert ds.attrs["run"] == "damping 0.5, ae"
        assert ds.attrs["se_method"] == "memory" and ds.attrs["cross_moments"] == "quadrature"  # which SE judged it
        spec = mcsim.NetworkSpec.from_dict(__import__("json").loads(ds.attrs["spec"]))
        assert spec.run.damping == (0.5,) * 4
        np.testing.assert_array_equal(ds.se_tau_minus.isel(scale=-1).values,
                                      mcsim.state_evolution(spec, 2).tau_minus.values)
    if study.matplotlib_available():
        assert (tmp_path / "out" / "tiny" / "map.png").stat().st_size > 10_000


def test_round_trip_keeps_every_variable_and_attribute(tmp_path):
    config = StudyConfig.load(_study_file(tmp_path, networks=4, scales=(0.25, 0.5, 1.0)))
    result = assemble(config, "chain", run_shards(config, tmp_path / "shards", n_jobs=1, log=lambda _: None))
    result = result.merge(statistics(result))
    result.attrs.update(mcsim.provenance.provenance([]))
    write_atomic(result, tmp_path / "r.nc", compress=True)
    with xr.open_dataset(tmp_path / "r.nc") as back:
        xr.testing.assert_identical(result, back.load())


def _shard_files(folder):
    return sorted(p.name for p in folder.rglob("*.nc")) if folder.exists() else []


def test_killed_study_resumes_to_the_same_file(tmp_path):
    """SIGKILL the study at seeded random points (after 1-3 new shards, then 0-100 ms
    more), up to four times, resuming each time; the final file equals an uninterrupted
    run (in this process), and no temporary file is left.

    Where a kill lands is up to the scheduler: during the shards, or after the last
    shard was written and before the final file was assembled.  Both are valid states
    to resume from; once every shard is on disk there is no shard left to interrupt,
    so the killing stops there.  What is asserted does not depend on the timing: at
    least one kill happened, and the resumed result is the uninterrupted one."""
    rng = random.Random(20261127)
    config = _study_file(tmp_path, networks=8, scales=(1.0, 2.0), shard_size=2)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    command = [sys.executable, "-m", "mcsim.study", "--config", str(config), "--n-jobs", "1", "--out", str(killed)]
    shards = killed / "tiny" / "shards"
    total = len(plan(StudyConfig.load(config)))
    landed = []  # shards on disk after each kill
    while len(landed) < 4 and (not landed or landed[-1] < total):
        before = set(_shard_files(shards))
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wanted, deadline = rng.randint(1, 3), time.time() + 120
        while len(set(_shard_files(shards)) - before) < wanted and proc.poll() is None:
            assert time.time() < deadline
            time.sleep(0.005)
        if proc.poll() is not None:  # it finished first
            break
        time.sleep(rng.uniform(0.0, 0.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        landed.append(len(_shard_files(shards)))
    assert landed, "the first run finished before it could be killed"
    print(f"killed {len(landed)} times, with {landed} of {total} shards on disk")
    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert study.main(["--config", str(config), "--n-jobs", "1", "--out", str(whole)]) == 0
    with xr.open_dataset(killed / "tiny" / "chain.nc") as a, xr.open_dataset(whole / "tiny" / "chain.nc") as b:
        _same_result(a.load(), b.load())
    assert not list(killed.rglob("*.tmp"))


def _truncate(shard):
    shard.write_bytes(shard.read_bytes()[:200])


def _tamper(shard):
    """Change the numbers, keep the attributes (key and checksum)."""
    with xr.open_dataset(shard) as ds:
        tampered = ds.load()
    tampered["tau_minus"] = tampered.tau_minus * 1.01
    tampered.to_netcdf(shard)


@pytest.mark.parametrize("damage, report", [(_truncate, "unreadable"), (_tamper, "checksum mismatch (corrupt)")])
def test_damaged_shard_is_reported_and_recomputed(tmp_path, capsys, damage, report):
    config = _study_file(tmp_path, networks=4, scales=(0.5,))
    out = ["--config", str(config), "--n-jobs", "1", "--out", str(tmp_path)]
    assert study.main(out) == 0
    with xr.open_dataset(tmp_path / "tiny" / "chain.nc") as ds:
        first = ds.load()
    damage(next((tmp_path / "tiny" / "shards").rglob("*_mc_000002-000004.nc")))
    capsys.readouterr()
    assert study.main(out) == 0
    printed = capsys.readouterr().out
    assert "resuming: 2 of 3 shards" in printed and report in printed and "not used" in printed
    with xr.open_dataset(tmp_path / "tiny" / "chain.nc") as ds:
        _same_result(first, ds.load())


def test_list_names_every_study(capsys):
    assert study.main(["list"]) == 0
    printed = capsys.readouterr().out
    assert "scaling" in printed and "talk_relu" in printed


def test_without_matplotlib_one_line_notice(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(study, "matplotlib_available", lambda: False)
    assert study.main(["--config", str(_study_file(tmp_path, networks=2, scales=(0.5,))), "--n-jobs", "1",
                       "--out", str(tmp_path)]) == 0
    assert "no figures: matplotlib is not installed" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.png"))


@pytest.mark.parametrize("args, field", [
    (["nonesuch"], "nonesuch"),
    ([], "give a study name (see 'python -m mcsim.study list') or --config FILE\n"),  # not "not both"
    (["scaling", "--config", "x.toml"], "or --config FILE, not both"),
    (["scaling", "--haar", "structured"], "retired"),
    (["scaling", "--networks", "1"], "networks"),
    (["scaling", "--iterations", "0"], "iterations"),
    (["scaling", "--scales", "1,-2"], "scales"),
    (["scaling", "--scales", "1,1"], "scales"),
    (["--config", "nonexistent.toml"], "nonexistent.toml"),
    (["scaling", "stray"], "stray"),
    (["scaling", "--scales", "0,1"], "the command line: scales"),  # an override is not the file's fault
    (["scaling", "--scales", "-1,1"], "the command line: scales"),  # not argparse's "expected one argument"
    (["scaling", "--n-jobs", "0"], "--n-jobs"),
    (["scaling", "--n-jobs", str(-(os.cpu_count() + 1))], "leaves no worker"),
    (["scaling", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler: goes with --backend dask"),
])
def test_bad_arguments_exit_2_naming_the_field(tmp_path, capsys, args, field):
    assert study.main(args + ["--out", str(tmp_path)]) == 2
    assert field in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text, field", [
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\nsurprise = 1\n", "surprise"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\n", "network"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\n[[network]]\nname = 'a'\nfile = 'missing.toml'\n",
     "missing.toml"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = -1\n[[network]]\nname = 'a'\nfile = 'a.toml'\n", "seed"),
    ("iterations = 2\nnetworks = [\n", "ill-formed"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\n[[network]]\nname = 'a'\nfile = 'a.toml'\n"
     "run = { damping = 2 }\n", "run.damping.mean_plus"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\n[[network]]\nname = 'a'\nfile = 'a.toml'\nrun = 1\n",
     "run: must be a table"),
    ("iterations = 2\nnetworks = 4\nscales = [1]\nseed = 1\nhaar = 'qr'\n[[network]]\nname = 'a'\nfile = 'a.toml'\n",
     "haar"),
])
def test_bad_study_files_exit_2_naming_the_key(tmp_path, capsys, text, field):
    (tmp_path / "a.toml").write_text((ROOT / "studies" / "networks" / "chain.toml").read_text())
    (tmp_path / "bad.toml").write_text(text)
    assert study.main(["--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "out")]) == 2
    assert field in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_quick_without_a_quick_table_exits_2(tmp_path, capsys):
    config = _study_file(tmp_path, networks=2, scales=(0.5,))
    assert study.main(["--config", str(config), "--quick", "--out", str(tmp_path / "out")]) == 2
    assert "no [quick] table" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_simulate_refuses_no_workers():
    with pytest.raises(ValueError, match="n_jobs"):
        mcsim.simulate(mcsim.NetworkSpec.from_dict(CHAIN), 2, 1, 0, n_jobs=0)


def test_output_folder_that_is_a_file_exits_2(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    config = _study_file(tmp_path, networks=2, scales=(0.5,))
    assert study.main(["--config", str(config), "--n-jobs", "1", "--out", str(tmp_path / "taken")]) == 2
    assert "cannot write results" in capsys.readouterr().err


def _loky_children(pid):
    """Pids of the joblib (loky) worker processes started by ``pid``."""
    kids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().split()[3]) == pid \
                    and "loky" in (entry / "cmdline").read_text():
                kids.append(int(entry.name))
        except OSError:
            continue
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killed_study_leaves_no_orphaned_workers(tmp_path):
    config = _study_file(tmp_path, networks=8, scales=(1.0, 2.0), shard_size=2)
    proc = subprocess.Popen([sys.executable, "-m", "mcsim.study", "--config", str(config), "--n-jobs", "2",
                             "--out", str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not _shard_files(tmp_path / "out") and proc.poll() is None:  # the workers have taken tasks
        assert time.time() < deadline
        time.sleep(0.01)
    workers = _loky_children(proc.pid)
    assert proc.poll() is None and workers
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(Path(f"/proc/{w}").exists() for w in workers)


def test_source_digest_changes_with_any_kernel_source(tmp_path):
    """The code identity in shard keys: a copy of the sources laid out as an install lays
    them (kernels and studies inside mcsim) has the same digest as the checkout, and a
    one-character edit of a kernel changes it."""
    import shutil

    from mcsim.provenance import digest_of, source_digest
    copy = tmp_path / "mcsim"
    shutil.copytree(ROOT / "mcsim", copy, ignore=shutil.ignore_patterns("__pycache__"))
    for sub in ("kernels", "studies"):
        shutil.copytree(ROOT / sub, copy / sub, ignore=shutil.ignore_patterns("__pycache__"))
    layout = {"mcsim": copy, "kernels": copy / "kernels", "studies": copy / "studies"}
    assert digest_of(layout) == source_digest()
    linear = copy / "kernels" / "linear.py"
    linear.write_text(linear.read_text().replace("1.0 + rho", "1.0 +rho", 1))
    assert digest_of(layout) != source_digest()


def test_a_plain_install_runs_from_any_folder(tmp_path):
    """``pip install .`` (not editable): the kernels and the study files are inside the
    mcsim package, no top-level ``kernels`` is installed, and ``list`` finds the studies
    from another folder."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True, timeout=300)
    assert (target / "mcsim" / "kernels" / "mlvamp.py").is_file() and not (target / "kernels").exists()
    assert (target / "mcsim" / "studies" / "networks" / "talk.toml").is_file()
    env = dict(os.environ, PYTHONPATH=str(target))
    listed = subprocess.run([sys.executable, "-m", "mcsim.study", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "scaling" in listed.stdout and "talk_relu" in listed.stdout, listed.stderr
    where = subprocess.run([sys.executable, "-c", "import mcsim.kernels; print(mcsim.kernels.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert where.stdout.startswith(str(target)), where


def test_shards_of_other_code_are_recomputed(tmp_path, capsys, monkeypatch):
    """A study resumed under other code (another source digest) reuses none of its shards."""
    config = _study_file(tmp_path, networks=4, scales=(0.5,))
    out = ["--config", str(config), "--n-jobs", "1", "--out", str(tmp_path)]
    assert study.main(out) == 0
    assert study.main(out) == 0
    assert "resuming: 3 of 3 shards" in capsys.readouterr().out
    monkeypatch.setattr(mcsim.engine, "source_digest", lambda: "edited")
    assert study.main(out) == 0
    printed = capsys.readouterr().out
    assert "resuming" not in printed and printed.count("computed for another spec, seed, size or code") == 3
