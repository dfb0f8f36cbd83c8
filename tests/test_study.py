"""The study runner end to end on a tiny preset: files load with xarray alone."""
import xarray as xr

from mcsim.study import main


def test_quick_study_writes_loadable_results(tmp_path, capsys):
    assert main(["scaling", "--quick", "--networks", "3", "--iterations", "2", "--n-jobs", "1",
                 "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "verdicts" in printed
    for name in ("chain", "talk_lifted", "talk_relu"):
        with xr.open_dataset(tmp_path / "scaling" / f"{name}.nc") as ds:
            assert ds.tau_minus.dims == ("scale", "network", "iteration", "layer")
            assert ds.se_tau_minus.dims == ("scale", "iteration", "layer")
            assert ds.attrs["network"] == name and "spec" in ds.attrs
    assert not list((tmp_path / "scaling").glob("*.tmp"))


def test_unknown_study_exits_2(tmp_path, capsys):
    assert main(["nonesuch", "--out", str(tmp_path)]) == 2
    assert "nonesuch" in capsys.readouterr().err
