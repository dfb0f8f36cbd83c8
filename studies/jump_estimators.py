"""The divergence estimators side by side at one SE state (issue 17): for each relu MAP
network of the estimators map and each hidden relu map and direction, R draws of the n
components that the undamped Stein SE says the map sees in the last iteration the map
judges (``mcsim.estimators``), and every estimator's bias against the SE's Stein
divergence and its spread sd sqrt(n).

    python studies/jump_estimators.py [REPEATS]
"""
import sys
import time
from pathlib import Path

import numpy as np

import mcsim
from mcsim.estimators import DIRECTIONS, divergence_draws

NETWORKS = ("talk", "relu_stochastic", "talk_leaky")
WIDTHS = (10 ** 3, 10 ** 4, 10 ** 5)
ITERATIONS = 10  # as the estimators map: the state of its last iteration, t = 9


def rows(name: str, repeats: int):
    spec = mcsim.NetworkSpec.from_toml(Path(__file__).parent / "networks" / f"{name}.toml")
    se = mcsim.state_evolution(spec, iterations=ITERATIONS, run={"divergence": "flattop"})
    for j, layer in enumerate(spec.layers[:-1]):
        if layer.kind == "linear":
            continue
        for n in WIDTHS:
            ds = divergence_draws(spec, se, j, ITERATIONS - 1, n, repeats, seed=1000 * j + n)
            mean, sd = ds.alpha.mean("draw"), ds.alpha.std("draw", ddof=1)
            for k, direction in enumerate(DIRECTIONS):
                ref = float(ds.alpha_stein[k])
                cells = [f"{100 * (float(mean[d, k]) / ref - 1):+.3f} +- {100 * float(sd[d, k]) / ref / np.sqrt(repeats):.3f} "
                         f"/ {float(sd[d, k]) * np.sqrt(n):.3f}" for d in range(ds.sizes["divergence"])]
                yield f"| {name} | {j} | alpha^{'+' if direction == 'plus' else '-'} | {n} | {ref:.4f} | " + " | ".join(cells) + " |"


def main(repeats: int) -> None:
    names = list(mcsim.run.DIVERGENCES)
    print(f"Each cell: bias in % of the Stein alpha +- its standard error / sd sqrt(n); {repeats} draws per width.\n")
    print("| network | map | divergence | n | Stein alpha (SE) | " + " | ".join(names) + " |")
    print("| --- " * (5 + len(names)) + "|")
    start = time.time()
    for name in NETWORKS:
        for row in rows(name, repeats):
            print(row, flush=True)
    print(f"\n{time.time() - start:.0f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
