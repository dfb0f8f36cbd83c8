"""The table of docs/inpainting.md, section 4: ML-VAMP on the trained decoder by damping
and divergence, on 20 test digits (one in 50), against L-BFGS on the same objective.

    python studies/inpaint/damping.py        # ~1 min; needs pip install -e '.[inpaint]'
"""
import numpy as np

from mcsim.baselines import lbfgs
from mcsim.config import study_file
from mcsim.inpaint import DigitRuns, InpaintConfig, consensus_of, test_digits
from mcsim.montecarlo import run_mlvamp

RUNS = {"undamped, ae": {}, "damping 0.5, ae": {"damping": 0.5},
        "damping 0.25 (means), 0.5 (precisions), ae": {"damping": [0.25, 0.25, 0.5, 0.5]},
        "damping 0.5, jump": {"damping": 0.5, "divergence": "jump"}}


def main():
    config = InpaintConfig.load(study_file("inpaint"))
    images, _, rows = test_digits(1000)
    digits = range(0, 1000, 50)
    print("| run | iterations | runs stopped | median consensus | at a fixed point (1e-8) | "
          "median (F - F_L-BFGS) / F |")
    print("| --- | --- | --- | --- | --- | --- |")
    reference = {}
    for name, run in RUNS.items():
        cells = []
        for iterations in (200, 1000):
            runs = DigitRuns(config, run, iterations)
            stopped, consensus, rel = 0, [], []
            for i in digits:
                problem = runs.observe(images[i], rows[i])
                if i not in reference:
                    reference[i] = lbfgs(problem, runs.x0(problem), np.zeros(problem.size), 500).value[-1]
                est = run_mlvamp(runs.net, iterations)
                stopped += int(est.valid[0] < iterations)
                if est.valid[0] == iterations:
                    consensus.append(consensus_of(est))
                    rel.append((problem.value(problem.point([z[0] for z in est.zhat_minus])) - reference[i])
                               / reference[i])
            cells.append((stopped, np.median(consensus) if consensus else np.nan,
                          int(np.sum(np.array(consensus) <= 1e-8)), np.median(rel) if rel else np.nan))
        a, b = cells
        print(f"| {name} | 200 / 1000 | {a[0]} / {b[0]} | {a[1]:.1e} / {b[1]:.1e} | {a[2]} / {b[2]} | "
              f"{a[3]:+.1e} / {b[3]:+.1e} |", flush=True)


if __name__ == "__main__":
    main()
