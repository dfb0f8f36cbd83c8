"""Figures of a study's result (matplotlib, an optional extra: ``pip install mcsim[plot]``).

Per network type, one PNG with a column per variable z_l and one colour per width:
- top: NMSE_l = 10 log10(tau^-_l / E[(z0_l)^2]) in dB against iteration, the Monte
  Carlo mean (solid; the SE predicts the mean) and the SE of the same width (dashed);
- middle: the relative gap mean/SE - 1 (%) with its 95 % t interval (error bars),
  against iteration, each width slightly offset; 0 is the SE;
- bottom: the RMS deviation of tau^-_l from the SE at the last iteration against the
  width n_l (log-log), with the least-squares line and its slope (theory -1/2).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import xarray as xr

from .report import completed


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_network(result: xr.Dataset, path: Path, quantity: str = "tau_minus") -> None:
    """Write the figure of one network type's result (with its statistics) to ``path``."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L, S = result.sizes["layer"], result.sizes["scale"]
    fig, axes = plt.subplots(3, L, figsize=(3.2 * L, 8.6), squeeze=False, constrained_layout=True)
    colors = plt.cm.viridis(np.linspace(0, 0.85, S))
    power = result.signal_power
    mean = result[quantity].where(completed(result)).mean("network")
    nmse = 10 * np.log10(mean / power)
    se_nmse = 10 * np.log10(result[f"se_{quantity}"] / power)
    dev = result[f"deviation_{quantity}"]
    se = result[f"se_{quantity}"]
    it = result.iteration.values
    offsets = 0.25 * (np.arange(S) - (S - 1) / 2) / max(S - 1, 1)
    for l in range(L):
        ax, gap_ax = axes[0, l], axes[1, l]
        for s in range(S):
            label = f"x{float(result.scale[s]):g} (widest {int(result.width.isel(scale=s).max())})"
            ax.plot(it, nmse.isel(scale=s, layer=l), color=colors[s], lw=1.5, label=label)
            ax.plot(it, se_nmse.isel(scale=s, layer=l), color=colors[s], lw=1.0, ls="--")
            d, ref = dev.isel(scale=s, layer=l), se.isel(scale=s, layer=l)
            gap = 100 * d.sel(statistic="mean") / ref
            low, high = 100 * d.sel(statistic="low") / ref, 100 * d.sel(statistic="high") / ref
            gap_ax.errorbar(it + offsets[s], gap, yerr=[gap - low, high - gap], color=colors[s], marker="o", ms=3,
                            lw=1.0, capsize=2)
        gap_ax.axhline(0, color="k", lw=0.8)
        for a in (ax, gap_ax):
            a.set_xlabel("iteration")
            a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            a.grid(alpha=0.3)
        ax.set_title(f"z_{l}")
        if l == 0:
            ax.set_ylabel(f"NMSE of {quantity} (dB)")
            gap_ax.set_ylabel(f"mean {quantity} / SE - 1 (%), 95% CI")
            ax.plot([], [], color="k", lw=1.5, label="MC mean (solid)")
            ax.plot([], [], color="k", lw=1.0, ls="--", label="SE, same width (dashed)")
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(S + 2, 2 * L), fontsize=8)
        rms = dev.sel(statistic="rms").isel(iteration=-1, layer=l).values
        width = result.width.isel(layer=l).values
        ax = axes[2, l]
        ax.loglog(width, rms, "o", color="C3", label="RMS deviation")
        rate = result[f"rate_{quantity}"].isel(iteration=-1, layer=l).sel(fit="slope").values
        ok = np.isfinite(rms) & (rms > 0)
        if np.isfinite(rate) and ok.sum() >= 2:
            intercept = np.mean(np.log(rms[ok]) - rate * np.log(width[ok]))
            ax.loglog(width, np.exp(intercept) * width ** rate, color="C3", label=f"fit, slope {rate:+.2f}")
            ax.loglog(width, np.exp(np.mean(np.log(rms[ok]) + 0.5 * np.log(width[ok]))) * width ** -0.5,
                      color="gray", ls=":", label="slope -1/2 (theory)")
        ax.legend(fontsize=7)
        ax.set_xlabel(f"width n_{l}")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both")
        if l == 0:
            ax.set_ylabel(f"RMS({quantity} - SE) at t={int(it[-1])}")
    fig.suptitle(f"{result.attrs.get('study', '')} / {result.attrs.get('network', '')}: Monte Carlo mean "
                 f"({result.sizes['network']} networks per width) against the SE")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_map(results: dict, path: Path) -> None:
    """The study's map of where the SE holds: one panel per network (network types that
    differ only in their ``[run]`` share a panel), one line per run: the largest
    relative gap |mean/SE - 1| of tau^- over the variables at the last iteration against
    the widest layer (log-log); open markers where the verdict is "deviates", crosses
    where it is "undetermined" (too many runs stopped); dotted,
    two standard errors of that gap (the resolution of the test)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .report import DEVIATES, undetermined

    panels = {}
    for name, r in results.items():
        base = json.loads(r.attrs["spec"])
        base.pop("run", None)
        panels.setdefault(json.dumps(base, sort_keys=True), []).append((name, r))
    n = len(panels)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False, constrained_layout=True)
    for ax, members in zip(axes.flat, panels.values()):
        for k, (name, r) in enumerate(members):
            dev = r.deviation_tau_minus.isel(iteration=-1)
            se = r.se_tau_minus.isel(iteration=-1)
            gap = (np.abs(dev.sel(statistic="mean")) / se).max("layer").values
            noise = (2 * dev.sel(statistic="stderr") / se).max("layer").values
            width = r.width.max("layer").values
            deviates = bool(any((r[f"verdict_{q}"].values == DEVIATES).any() for q in ("tau_plus", "tau_minus")))
            unknown = bool(undetermined(r))
            word = "UNDETERMINED" if unknown else "DEVIATES" if deviates else "consistent"
            color = f"C{k}"
            ax.loglog(width, gap, marker="x" if unknown else "o", color=color, mfc="white" if deviates else color,
                      label=f"{r.attrs.get('run', name)}: {word}")
            ax.loglog(width, noise, ls=":", color=color, lw=0.9)
        ax.set_title(os.path.commonprefix([name for name, _ in members]).rstrip("_") or members[0][0], fontsize=10)
        ax.set_xlabel("widest layer")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3, which="both")
        ax.plot([], [], ls=":", color="gray", lw=0.9, label="2 standard errors of the gap")
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("max |mean tau^- / SE - 1| at last t")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Where the SE holds: gap of tau^- (open markers: deviates; crosses: undetermined, too many runs "
                 "stopped) and two standard errors (dotted)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
