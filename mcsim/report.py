"""Statistics of a study's result against its SE, and the verdict table printed and saved.

For each compared quantity Q (``tau_plus``, ``tau_minus``), scale, iteration and layer
(``mcsim.stats``): the mean deviation D = mean_i Q_i - SE with its 95% t interval and
t-test p-value, and the RMS deviation; per iteration and layer, the log-log slope of
the RMS deviation against the width of that layer over the scales (theory: -1/2);
and the verdict at the largest width: "consistent" when p > ALPHA / K, Bonferroni
over the K checks (quantities x iterations x layers) of the network type.  Its power:
the smallest relative gap |mean/SE - 1| that each check would detect with probability
POWER, (t_{1 - ALPHA/(2K), N-1} + t_{POWER, N-1}) x standard error / |SE| (the
``detectable_Q`` variables; a "consistent" verdict quotes the largest over the checks).

A network whose run stopped early (an alpha left (0, 1): ``valid_iterations`` short)
or produced a non-finite error is excluded from every statistic at its width, and
counted in ``excluded`` (scale), its fraction in ``stopped_fraction`` (scale).  No
silent selection: the completed runs are a biased sample when many stop, so the
verdict is "undetermined" (``UNDETERMINED`` in every checked cell; the t-test on the
completed runs stays in ``deviation_Q``) when the stopped fraction exceeds
``MAX_STOPPED`` at the largest width, or does not fall towards 0 with width: it is
positive at the largest width and not below its largest value at the smaller widths
(or there is no smaller width).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from scipy import stats as distributions

from .stats import mean_deviation, rate_fit

COMPARED = ("tau_plus", "tau_minus")
STATISTICS = ("mean", "low", "high", "p_value", "rms", "n", "stderr")
FIT = ("slope", "low", "high")
ALPHA = 0.01
POWER = 0.8
MAX_STOPPED = 0.01  # stopped fraction at the largest width above which a verdict is undetermined
UNDETERMINED, NO_PREDICTION, DEVIATES, CONSISTENT = -2, -1, 0, 1


def completed(result: xr.Dataset) -> xr.DataArray:
    """(scale, network): the run went through every iteration with finite errors."""
    finite = np.isfinite(result[list(COMPARED)].to_array()).all(("variable", "iteration", "layer"))
    return finite & (result.valid_iterations == result.sizes["iteration"])


def _t_test(p: np.ndarray, checks: int) -> np.ndarray:
    """CONSISTENT where p > ALPHA / checks (Bonferroni), DEVIATES below, NO_PREDICTION where p is NaN."""
    return np.where(~np.isfinite(p), NO_PREDICTION, np.where(p > ALPHA / max(checks, 1), CONSISTENT, DEVIATES))


def selection_problem(stopped: np.ndarray) -> str:
    """Why the verdict is undetermined for the stopped fractions ``stopped`` (by width,
    narrowest first; module docstring), or "" when it is determined."""
    fractions = ", ".join(_percent(f) for f in stopped)
    widest = stopped[-1]
    if widest > MAX_STOPPED:
        return f"{_percent(widest)} of runs stopped at the largest width (> {100 * MAX_STOPPED:g}%; by width {fractions})"
    if widest > 0 and (stopped.size == 1 or widest >= stopped[:-1].max()):
        return f"the stopped fraction does not fall with width ({fractions})"
    return ""


def _deviations(result: xr.Dataset, q: str) -> np.ndarray:
    """(statistic, scale, iteration, layer) array of mean_deviation fields over the
    completed networks (NaN without SE)."""
    mc = result[q].where(completed(result)).transpose("scale", "network", "iteration", "layer").values
    se = result[f"se_{q}"].transpose("scale", "iteration", "layer").values
    out = np.full((len(STATISTICS),) + se.shape, np.nan)
    for s, t, l in np.ndindex(se.shape):
        samples = mc[s, :, t, l]
        if np.isfinite(se[s, t, l]) and np.isfinite(samples).sum() >= 2:
            d = mean_deviation(samples, se[s, t, l])
            out[:, s, t, l] = [d.mean, d.low, d.high, d.p_value, d.rms, d.n, d.stderr]
    return out


def _rates(result: xr.Dataset, dev: np.ndarray) -> np.ndarray:
    """(fit, iteration, layer) slopes of log RMS deviation against log width (NaN below 3 scales)."""
    rms = dev[STATISTICS.index("rms")]
    out = np.full((len(FIT),) + rms.shape[1:], np.nan)
    widths = result.width.transpose("scale", "layer").values
    for t, l in np.ndindex(rms.shape[1:]):
        ok = np.isfinite(rms[:, t, l]) & (rms[:, t, l] > 0)
        if ok.sum() >= 3:
            fit = rate_fit(widths[ok, l], rms[ok, t, l])
            out[:, t, l] = [fit.slope, fit.low, fit.high]
    return out


def statistics(result: xr.Dataset) -> xr.Dataset:
    """``deviation_Q`` (statistic, scale, iteration, layer), ``rate_Q`` (fit, iteration, layer)
    and ``verdict_Q`` (iteration, layer) for each compared quantity Q."""
    devs = {q: _deviations(result, q) for q in COMPARED}
    p_last = {q: devs[q][STATISTICS.index("p_value"), -1] for q in COMPARED}
    checks = int(sum(np.isfinite(p).sum() for p in p_last.values()))
    out = xr.Dataset(coords={"statistic": list(STATISTICS), "fit": list(FIT)})
    stopped = ~completed(result)
    out["excluded"] = ("scale", stopped.sum("network").values.astype(np.int64),
                       {"long_name": "networks excluded from the statistics: stopped early or non-finite"})
    out["stopped_fraction"] = ("scale", stopped.mean("network").values, {
        "long_name": "fraction of runs stopped early or non-finite (excluded from the statistics)",
        "max_stopped": MAX_STOPPED})
    problem = selection_problem(out.stopped_fraction.values)
    for q in COMPARED:
        out[f"deviation_{q}"] = (("statistic", "scale", "iteration", "layer"), devs[q], {
            "long_name": f"mean_i {q}_i - SE: mean, 95% t interval (low, high), t-test p-value, "
                         "RMS deviation, finite samples n, standard error of the mean"})
        out[f"rate_{q}"] = (("fit", "iteration", "layer"), _rates(result, devs[q]), {
            "long_name": f"slope of log RMS deviation of {q} against log width, with 95% interval (theory -1/2)"})
        p = p_last[q]
        verdict = _t_test(p, checks)
        verdict = np.where((verdict != NO_PREDICTION) & (problem != ""), UNDETERMINED, verdict)
        out[f"verdict_{q}"] = (("iteration", "layer"), verdict.astype(np.int8), {
            "long_name": f"{q} at the largest width: t-test of mean deviation = 0, Bonferroni over the checks "
                         "(undetermined when too many runs stopped)",
            "flag_values": np.array([UNDETERMINED, NO_PREDICTION, DEVIATES, CONSISTENT], np.int8),
            "flag_meanings": "undetermined no_prediction deviates consistent_with_SE",
            "alpha": ALPHA, "checks": checks, "undetermined": problem})
        out[f"detectable_{q}"] = (("iteration", "layer"), _detectable(devs[q], result[f"se_{q}"], checks), {
            "long_name": f"smallest relative gap |mean/SE - 1| of {q} at the largest width that its check "
                         f"detects with probability {POWER}", "power": POWER})
    return out


def _detectable(dev: np.ndarray, se: xr.DataArray, checks: int) -> np.ndarray:
    """(iteration, layer) detectable relative gaps at the largest width (module docstring)."""
    n, stderr = dev[STATISTICS.index("n"), -1], dev[STATISTICS.index("stderr"), -1]
    dof = np.maximum(n - 1, 1)
    t_alpha = distributions.t.isf(ALPHA / (2 * max(checks, 1)), dof)
    t_power = distributions.t.ppf(POWER, dof)
    ref = np.abs(se.isel(scale=-1).transpose("iteration", "layer").values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(stderr), (t_alpha + t_power) * stderr / ref, np.nan)


def detectable_gap(result: xr.Dataset) -> str:
    """The largest detectable relative gap over the checks of ``result``'s statistics, in %
    ("n/a" without a check).  The power is that of the normal approximation: about 0.8
    from ten networks on, lower with fewer (0.65 at two or three)."""
    values = np.concatenate([result[f"detectable_{q}"].values.ravel() for q in COMPARED])
    if not np.isfinite(values).any():
        return "n/a"
    gap = 100 * float(np.nanmax(values))
    return f"{gap:.0f}%" if gap >= 10 else f"{gap:.2g}%"


def gap_cells(result: xr.Dataset, q: str, scale: int) -> np.ndarray:
    """Relative gap mean/SE - 1 on (iteration, layer) at one scale."""
    mean = result[f"deviation_{q}"].sel(statistic="mean").isel(scale=scale)
    return (mean / result[f"se_{q}"].isel(scale=scale)).transpose("iteration", "layer").values


def tested(result: xr.Dataset, q: str) -> np.ndarray:
    """(iteration, layer) t-test outcomes on the completed runs (CONSISTENT, DEVIATES,
    NO_PREDICTION), whether or not the verdict is undetermined."""
    p = result[f"deviation_{q}"].sel(statistic="p_value").isel(scale=-1).transpose("iteration", "layer").values
    return _t_test(p, result[f"verdict_{q}"].attrs["checks"])


def _percent(f: float) -> str:
    """A fraction as a percentage with two significant digits: '23%', '3.3%', '100%'."""
    return f"{100 * f:.0f}%" if f >= 0.1 else f"{100 * f:.2g}%"


def _fractions(result: xr.Dataset) -> str:
    """The stopped fractions by width, e.g. '23%, 3.3%, 0%'."""
    return ", ".join(_percent(f) for f in result.stopped_fraction.values)


def undetermined(result: xr.Dataset) -> str:
    """Why ``result``'s verdict is undetermined (``selection_problem``), or ""."""
    return result[f"verdict_{COMPARED[0]}"].attrs.get("undetermined", "")


def summary_line(result: xr.Dataset) -> str:
    """One line: consistent everywhere, where it deviates first, or why it is
    undetermined (with what the completed runs alone would say)."""
    problem = undetermined(result)
    if problem:
        verdicts = {q: tested(result, q) for q in COMPARED}
        checks = result[f"verdict_{COMPARED[0]}"].attrs["checks"]
        bad = sum(int((v == DEVIATES).sum()) for v in verdicts.values())
        return (f"UNDETERMINED: {problem}; the completed runs alone deviate at {bad} of {checks} checks"
                if checks else f"UNDETERMINED: {problem}")
    bad = [(t, l, q) for q in COMPARED for t, l in zip(*np.nonzero(result[f"verdict_{q}"].values == DEVIATES))]
    checks = result[f"verdict_{COMPARED[0]}"].attrs["checks"]
    excluded = int(result.excluded.sum()) if "excluded" in result else 0
    note = f"; {excluded} networks excluded (stopped early or non-finite)" if excluded else ""
    if not checks:
        return "no checks (no SE, or fewer than 2 completed networks at the largest width)" + note
    if not bad:
        return (f"consistent with SE at all {checks} checks (each would detect a gap of "
                f"{detectable_gap(result)} or more, power {POWER:.0%})" + note)
    first = min(t for t, _, _ in bad)
    layers = sorted({int(l) for t, l, _ in bad if t == first})
    return (f"DEVIATES at {len(bad)} of {checks} checks, first at iteration {first} "
            f"(z_{', z_'.join(map(str, layers))})" + note)


def verdict_table(result: xr.Dataset) -> str:
    """The network type's verdicts as text: relative gaps mean/SE - 1 per iteration and
    layer at the largest width (``*`` = deviates, ``-`` = no SE), the RMS slope at the
    last iteration, and the last iteration's gaps at every width."""
    S, T = result.sizes["scale"], result.sizes["iteration"]
    widths = "-".join(str(int(w)) for w in result.width.isel(scale=-1).values)
    lines = [f"{result.attrs['network']}: {summary_line(result)}",
             f"  {result.sizes['network']} networks per width; largest width {widths} (scale "
             f"{float(result.scale[-1]):g}); alpha {ALPHA} Bonferroni; * = deviates, ? = undetermined",
             "  percentages: relative gap mean/SE - 1 at the largest width"]
    if "stopped_fraction" in result:
        lines.insert(2, f"  runs stopped by width: {_fractions(result)}")
    marks = {DEVIATES: "*", UNDETERMINED: "?"}
    for q in COMPARED:
        gaps = gap_cells(result, q, -1)
        verdicts = result[f"verdict_{q}"].values
        rate = result[f"rate_{q}"].isel(iteration=-1)
        lines.append(f"  {q:<10}" + "".join(f"{'t=' + str(t):>9}" for t in range(T))
                     + f"   RMS slope at t={T - 1} [95% CI]")
        for l in range(result.sizes["layer"]):
            cells = "".join(f"{'-':>9}" if verdicts[t, l] == NO_PREDICTION else
                            f"{100 * gaps[t, l]:+7.1f}%{marks.get(int(verdicts[t, l]), ' ')}"
                            for t in range(T))
            slope = rate.isel(layer=l).values
            fit = "n/a (needs 3 widths with an SE)" if not np.isfinite(slope[0]) else \
                f"{slope[0]:+.3f} [{slope[1]:+.3f}, {slope[2]:+.3f}]"
            lines.append(f"  z_{l:<8}" + cells + "   " + fit)
    lines.append(f"  tau_minus gap at t={T - 1} by width:")
    for s in range(S):
        gaps = gap_cells(result, "tau_minus", s)[-1]
        dev = result["deviation_tau_minus"].isel(scale=s, iteration=-1)
        z = dev.sel(statistic="mean") / dev.sel(statistic="stderr")
        lines.append(f"    scale {float(result.scale[s]):<5g} "
                     + "  ".join(f"z_{l}: " + (f"{100 * g:+.1f}% (z {float(zz):+.1f})" if np.isfinite(g) else "no SE")
                                 for l, (g, zz) in enumerate(zip(gaps, z.values))))
    return "\n".join(lines)


def exactness_row(result: xr.Dataset) -> tuple[str, str]:
    """(verdict, detail) of one network type: "converges to SE" with the range of RMS slopes
    of tau^- at the last iteration over the variables and how many 95% intervals contain
    -1/2, "DEVIATES" with the largest gap of tau^- at the largest width and last
    iteration and the first deviating iteration, or "UNDETERMINED" with the stopped
    fractions by width."""
    bad = [t for q in COMPARED for t, _ in zip(*np.nonzero(result[f"verdict_{q}"].values == DEVIATES))]
    excluded = int(result.excluded.sum()) if "excluded" in result else 0
    note = f"; runs stopped by width {_fractions(result)}" if excluded else ""
    if undetermined(result):
        tests = [tested(result, q) for q in COMPARED]
        alone = "deviate" if any((v == DEVIATES).any() for v in tests) else "agree with the SE"
        return "UNDETERMINED", f"{undetermined(result)}; the completed runs alone {alone}"
    if not bad and (result[f"verdict_{COMPARED[0]}"].values == CONSISTENT).any():
        rate = result.rate_tau_minus.isel(iteration=-1)
        slopes = rate.sel(fit="slope").values
        power = f"; would detect >= {detectable_gap(result)}"
        if not np.isfinite(slopes).any():
            return "consistent with SE", "no slope (fewer than 3 widths)" + power + note
        inside = int(((rate.sel(fit="low") <= -0.5) & (rate.sel(fit="high") >= -0.5)).sum())
        return "converges to SE", (f"RMS slope {np.nanmin(slopes):+.2f} to {np.nanmax(slopes):+.2f}, "
                                   f"-1/2 inside {inside}/{slopes.size} 95% CIs" + power + note)
    if not bad:
        return "no SE", "the SE stopped (alpha outside (0, 1))" + note
    gaps = gap_cells(result, "tau_minus", -1)[-1]
    worst = int(np.nanargmax(np.abs(gaps)))
    return "DEVIATES", (f"tau^- gap up to {100 * gaps[worst]:+.1f}% (z_{worst}) at the largest width, "
                        f"from iteration {min(bad)}" + note)


def exactness_table(results: dict[str, xr.Dataset]) -> str:
    """The map of where the SE holds: one row per network type of the study."""
    rows = [("network type", "run", "widest", "verdict", "detail")]
    for name, result in results.items():
        run = result.attrs.get("run", "")
        widest = str(int(result.width.isel(scale=-1).max()))
        rows.append((name, run, widest) + exactness_row(result))
    sizes = [max(len(r[k]) for r in rows) for k in range(5)]
    return "\n".join("  ".join(cell.ljust(size) for cell, size in zip(row, sizes)).rstrip() for row in rows)


def compare(mc: xr.Dataset, se: xr.Dataset) -> xr.Dataset:
    """The statistics a study writes, for Monte Carlo trajectories ``mc`` of ``simulate``
    (network, iteration, layer) against the SE ``se`` of ``state_evolution`` (iteration,
    layer) at one width: ``deviation_Q``, ``rate_Q`` (NaN: a rate needs 3 widths),
    ``verdict_Q``, ``detectable_Q`` and ``excluded`` (module docstring), with the verdict
    as the ``summary`` attribute.  Networks that stopped early are excluded."""
    missing = [q for q in COMPARED if q not in mc or q not in se] + [v for v in ("valid_iterations",) if v not in mc]
    if missing or "network" not in mc.dims:
        raise ValueError(f"compare: needs simulate() trajectories on (network, iteration, layer) and a "
                         f"state_evolution() result, both with {', '.join(COMPARED)}")
    if "signal" in mc.dims:
        raise ValueError("compare: several signals per network are not independent samples: pass "
                         "mc.isel(signal=0), or simulate with signals=1")
    if mc.attrs.get("run", se.attrs.get("run")) != se.attrs.get("run", mc.attrs.get("run")):
        raise ValueError(f"compare: the Monte Carlo ran {mc.attrs['run']!r}, the SE {se.attrs['run']!r}")
    if "width" in se.coords and not np.array_equal(mc["width"].values, se["width"].values):
        raise ValueError(f"compare: widths differ: {mc['width'].values.tolist()} (Monte Carlo) vs "
                         f"{se['width'].values.tolist()} (SE)")
    if mc.sizes["iteration"] != se.sizes["iteration"] or mc.sizes["layer"] != se.sizes["layer"]:
        raise ValueError(f"compare: iterations x layers differ: {mc.sizes['iteration']} x {mc.sizes['layer']} "
                         f"(Monte Carlo) vs {se.sizes['iteration']} x {se.sizes['layer']} (SE)")
    result = mc[list(COMPARED) + ["valid_iterations"]].drop_vars("width", errors="ignore").expand_dims(scale=[1.0])
    for q in COMPARED:
        result[f"se_{q}"] = se[q].drop_vars("width", errors="ignore").expand_dims(scale=[1.0])
    result = result.assign_coords(width=(("scale", "layer"), mc["width"].values[None, :]))
    out = statistics(result)
    full = out.assign(se_tau_minus=result.se_tau_minus, se_tau_plus=result.se_tau_plus)
    out.attrs["summary"] = summary_line(full)
    out.attrs["table"] = _last_iteration_table(full)
    return out


def _last_iteration_table(result: xr.Dataset) -> str:
    """tau^- at the last iteration per variable: MC mean, SE, gap, z, verdict (text)."""
    dev = result.deviation_tau_minus.isel(scale=-1, iteration=-1)
    se = result.se_tau_minus.isel(scale=-1, iteration=-1).values
    verdicts = result.verdict_tau_minus.isel(iteration=-1).values
    lines = [f"{'variable':<9}{'MC mean':>11}{'SE':>11}{'gap':>9}{'z':>7}  verdict (tau^-, last iteration)"]
    for l in range(se.size):
        mean, stderr = float(dev.sel(statistic="mean")[l]), float(dev.sel(statistic="stderr")[l])
        word = {CONSISTENT: "consistent", DEVIATES: "DEVIATES"}.get(int(verdicts[l]), "n/a (no SE or too few runs)")
        with np.errstate(divide="ignore", invalid="ignore"):
            gap, z = np.divide(100 * mean, se[l]), np.divide(mean, stderr)
        lines.append(f"z_{l:<7}{se[l] + mean:>11.4g}{se[l]:>11.4g}{gap:>+8.1f}%{z:>+7.1f}  {word}")
    return "\n".join(lines)
