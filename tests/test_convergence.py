"""CI-sized convergence check through the study engine: the linear chain and the
Lipschitz-nonlinear (lifted relu) network approach the SE as the width grows 4x.

Two checks per network type, at the last of 4 iterations, 40 networks per width:

1. the study's verdict (``mcsim.report``: t-test of mean deviation = 0 at the larger
   width, Bonferroni over all 2 x 4 x L checks, alpha 0.01) is "consistent" everywhere;
   the false-failure rate is at most 1% per network type by construction;
2. the RMS per-network deviation from the SE falls between the two widths at every
   layer.  The theory predicts a ratio (1/4)^(1/2) = 0.5; the RMS of 40 networks has a
   relative standard error of about 1/sqrt(2 x 40) = 11%, so a ratio >= 1 is ~4.5
   combined standard errors away from 0.5 (log-scale: |log 0.5| / (sqrt 2 x 0.11)).
"""
import numpy as np
import pytest

from mcsim.config import StudyConfig
from mcsim.engine import assemble, run_shards
from mcsim.report import COMPARED, CONSISTENT, statistics

from .test_study import _study_file


@pytest.mark.parametrize("name, file, scales", [("chain", "chain.toml", (0.25, 1.0)),
                                                ("talk_lifted", "talk_lifted.toml", (0.5, 2.0))])
def test_engine_converges_to_se(tmp_path, name, file, scales):
    config = StudyConfig.load(_study_file(tmp_path, networks=40, scales=scales, iterations=4, shard_size=20,
                                          nets=((name, file),)))
    result = assemble(config, name, run_shards(config, tmp_path / "shards", n_jobs=1, log=lambda _: None))
    result = result.merge(statistics(result))
    for q in COMPARED:
        assert (result[f"verdict_{q}"] == CONSISTENT).all(), f"{q}:\n{result[f'deviation_{q}'].isel(scale=-1)}"
        rms = result[f"deviation_{q}"].sel(statistic="rms").isel(iteration=-1).values
        assert (rms[1] < rms[0]).all(), f"{q}: RMS deviation by scale and layer\n{rms}"
        print(f"{name} {q}: RMS ratio large/small width by layer {np.round(rms[1] / rms[0], 2)}")
