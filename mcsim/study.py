"""Run a study: ``python -m mcsim.study NAME`` runs ``studies/NAME.toml``.

For every network type of the study and every width scale, draws ``networks``
random networks, runs ML-VAMP on each and computes the SE; writes
``OUT/NAME/<network>.nc`` (trajectories, SE, statistics, provenance), a figure
``OUT/NAME/<network>.png`` (with matplotlib) and the verdict table
``OUT/NAME/summary.txt``.  Work is saved shard by shard under ``OUT/NAME/shards``:
re-running an interrupted command resumes it.  ``--shard I/N`` runs one part
(e.g. one SLURM array task) and ``python -m mcsim.study merge OUT/NAME`` assembles
the parts; ``--backend dask`` runs on a dask.distributed cluster.
``python -m mcsim.study list`` lists the studies.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import xarray as xr

from .comparison import (ComparisonConfig, assemble_comparison, comparison_table, plan_comparison, plot_comparison,
                         study_kind)
from .config import StudyConfig, config_from_json, config_to_json, known_studies, study_file
from .engine import assemble, load_shards, plan, run_shards, run_tasks
from .inpaint import InpaintConfig, assemble_inpaint, inpaint_table, plan_inpaint, plot_inpaint
from .plots import matplotlib_available, plot_map, plot_network
from .provenance import provenance
from .report import exactness_table, statistics, verdict_table
from .shards import write_atomic, write_text_atomic
from .spec import SpecError
from .validation import workers


def _scales(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 0.5,1,2; got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mcsim.study", description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", help="a study in studies/ (e.g. scaling), 'list', or 'merge FOLDER'")
    parser.add_argument("folder", nargs="?", type=Path, help="with merge: the study's results folder")
    parser.add_argument("--config", type=Path, help="a study file to run instead of a named study")
    parser.add_argument("--quick", action="store_true", help="the study's reduced preset ([quick] table)")
    parser.add_argument("--networks", type=int, help="networks per width")
    parser.add_argument("--scales", type=_scales, help="width multipliers, comma-separated (e.g. 0.5,1,2)")
    parser.add_argument("--iterations", type=int, help="ML-VAMP iterations per network (and of the SE)")
    parser.add_argument("--seed", type=int, help="the study's seed (network i of a type and width: child i of "
                                                 "SeedSequence([seed, crc32(name), round(1e6 scale)]))")
    parser.add_argument("--haar", help="form of the orthogonal factors (all exact in law): auto (the cheapest "
                                       "per factor), dense, householder, lazy (drawn product by product)")
    parser.add_argument("--n-jobs", type=int, default=-1, help="joblib worker processes (default -1: all cores)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results/)")
    parser.add_argument("--shard", help="run part I of N (I/N, 0-based); default from SLURM_ARRAY_TASK_ID/COUNT")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky",
                        help="loky: worker processes here; dask: a dask.distributed cluster (pip install 'mcsim[hpc]')")
    parser.add_argument("--scheduler", help="with --backend dask: the scheduler address (default: a local cluster)")
    return parser


def load_study(path: Path, quick: bool = False):
    """A study file as a :class:`StudyConfig`, or for ``kind = "comparison"`` a
    :class:`ComparisonConfig`, for ``kind = "inpaint"`` an :class:`InpaintConfig`."""
    kinds = {"scaling": StudyConfig, "comparison": ComparisonConfig, "inpaint": InpaintConfig}
    return kinds[study_kind(path)].load(path, quick)


def list_studies() -> str:
    lines = []
    for name in known_studies():
        try:
            c = load_study(study_file(name))
        except SpecError as err:
            lines.append(f"{name:12s} (invalid: {err})")
            continue
        what = (f"ML-VAMP, SE, Adam, L-BFGS on {c.networks} networks" if isinstance(c, ComparisonConfig) else
                f"ML-VAMP, Adam, L-BFGS on {c.digits} test digits; SE and {c.networks} surrogate networks"
                if isinstance(c, InpaintConfig) else
                f"{c.networks} per width at scales {', '.join(f'{s:g}' for s in c.scales)}")
        lines.append(f"{name:12s} {c.description}\n{'':12s} networks {', '.join(c.specs)}; {what}; "
                     f"{c.iterations} iterations")
    return "\n".join(lines)


def _shard(text: str | None) -> tuple[int, int]:
    """``I/N`` (0 <= I < N), else SLURM's array task id/count when set, else 0/1."""
    if text is None:
        task, count = os.environ.get("SLURM_ARRAY_TASK_ID"), os.environ.get("SLURM_ARRAY_TASK_COUNT")
        if task is None or count is None:
            return 0, 1
        text = f"{int(task) - int(os.environ.get('SLURM_ARRAY_TASK_MIN', 0))}/{count}"
    try:
        part, parts = (int(x) for x in text.split("/"))
    except ValueError:
        raise SpecError(f"--shard: expected I/N, e.g. 0/4; got {text!r}") from None
    if not 0 <= part < parts:
        raise SpecError(f"--shard: need 0 <= I < N, got {text!r}")
    return part, parts


RECORD = "study.json"  # the resolved study, written beside its results: what merge rebuilds it from


def run(config: StudyConfig, out: Path, n_jobs: int, argv: list[str] | None = None, shard=(0, 1),
        backend: str = "loky", scheduler: str | None = None) -> dict:
    """Run (or resume) a study, or this process's part of it; returns {network type:
    result dataset}, empty while other parts are missing."""
    folder = out / config.name
    print(f"study {config.name}: {', '.join(config.specs)}; {config.networks} networks x scales "
          f"{', '.join(f'{s:g}' for s in config.scales)} x {config.iterations} iterations -> {folder}", flush=True)
    _claim(folder, config)
    shards = run_shards(config, folder / "shards", n_jobs, log=lambda line: print(line, flush=True), shard=shard,
                        backend=backend, scheduler=scheduler)
    missing = len(plan(config)) - len(shards)
    if missing:
        print(f"part {shard[0]}/{shard[1]} done; {missing} shards of other parts missing: when all parts have "
              f"run, python -m mcsim.study merge {folder}", flush=True)
        return {}
    return finish(config, folder, shards, argv)


def _claim(folder: Path, config) -> None:
    """Write the study record into ``folder``, or SpecError if it holds another study's."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / RECORD
    if record.is_file():
        text = record.read_text()
        same = (config_from_json(text, str(record)) == config if isinstance(config, StudyConfig)
                else text == config_to_json(config))
        if not same:
            raise SpecError(f"{record}: holds a different study (spec, seed or sizes); use another --out")
    write_text_atomic(record, config_to_json(config))


def _run_one_file(config, tasks: list, assemble, table_of, plot, out: Path, n_jobs: int, argv, backend: str,
                  scheduler: str | None) -> xr.Dataset:
    """Run (or resume) the shards ``tasks`` of a study with one result: assemble them
    (``assemble(config, shards)``), write ``OUT/NAME/NAME.nc`` and ``summary.txt``
    (``table_of(result)``, also printed), and with matplotlib the figures
    (``plot(result, folder)`` returns their paths)."""
    folder = out / config.name
    _claim(folder, config)
    shards = run_tasks(tasks, config.name, folder / "shards", n_jobs, lambda line: print(line, flush=True),
                       backend=backend, scheduler=scheduler)
    result = assemble(config, shards)
    result.attrs.update(provenance(argv))
    write_atomic(result, folder / f"{config.name}.nc", compress=True)
    table = table_of(result)
    print(table, flush=True)
    write_text_atomic(folder / "summary.txt", table + "\n")
    figures = plot(result, folder) if matplotlib_available() else []
    print(f"wrote {config.name}.nc, " + "".join(f"{p.name}, " for p in figures) + f"summary.txt in {folder}")
    if not matplotlib_available():
        print("no figures: matplotlib is not installed (pip install 'mcsim[plot]')")
    return result


def run_comparison(config: ComparisonConfig, out: Path, n_jobs: int, argv: list[str] | None = None,
                   backend: str = "loky", scheduler: str | None = None) -> xr.Dataset:
    """Run (or resume) a comparison study: ``OUT/NAME/NAME.nc``, ``NAME.png``, ``summary.txt``."""
    print(f"study {config.name}: {', '.join(config.specs)}; {config.networks} networks; ML-VAMP {config.iterations} "
          f"iterations + SE, Adam {config.adam_steps} steps, L-BFGS <= {config.lbfgs_steps} -> {out / config.name}",
          flush=True)

    def plot(result, folder):
        plot_comparison(result, folder / f"{config.name}.png")
        return [folder / f"{config.name}.png"]

    return _run_one_file(config, plan_comparison(config), assemble_comparison, comparison_table, plot, out, n_jobs,
                         argv, backend, scheduler)


def run_inpaint(config: InpaintConfig, out: Path, n_jobs: int, argv: list[str] | None = None,
                backend: str = "loky", scheduler: str | None = None) -> xr.Dataset:
    """Run (or resume) an inpainting study: ``OUT/NAME/NAME.nc``, two PNGs, ``summary.txt``."""
    print(f"study {config.name}: {config.digits} test digits (ML-VAMP {config.iterations} iterations, Adam "
          f"{config.adam_steps} steps, L-BFGS <= {config.lbfgs_steps}); SE and {config.networks} surrogate networks "
          f"at widths x{', x'.join(f'{s:g}' for s in config.surrogate_scales)}, {config.se_iterations} iterations "
          f"-> {out / config.name}", flush=True)
    return _run_one_file(config, plan_inpaint(config, config_to_json(config)), assemble_inpaint, inpaint_table,
                         lambda result, folder: plot_inpaint(result, folder, config.name), out, n_jobs, argv,
                         backend, scheduler)


def finish(config: StudyConfig, folder: Path, shards: dict, argv: list[str] | None = None) -> dict:
    """Assemble every network type's result, add statistics and provenance, write the
    files, the figures and the verdict table."""
    attrs = provenance(argv)
    plots = matplotlib_available()
    results, tables = {}, []
    for name in config.specs:
        result = assemble(config, name, shards)
        result = result.merge(statistics(result))
        result.attrs.update(attrs)
        write_atomic(result, folder / f"{name}.nc", compress=True)
        if plots:
            plot_network(result, folder / f"{name}.png")
        tables.append(verdict_table(result))
        print(tables[-1], flush=True)
        results[name] = result
    table = exactness_table(results)
    print(f"\nwhere the SE holds ({config.name}):\n{table}", flush=True)
    write_text_atomic(folder / "summary.txt", "\n\n".join(tables) + f"\n\nwhere the SE holds ({config.name}):\n{table}\n")
    if plots:
        plot_map(results, folder / "map.png")
    print(f"wrote {', '.join(f'{n}.nc' for n in config.specs)}"
          + (f", {', '.join(f'{n}.png' for n in config.specs)}, map.png" if plots else "")
          + f" and summary.txt in {folder}")
    if not plots:
        print("no figures: matplotlib is not installed (pip install 'mcsim[plot]')")
    return results


def merge(folder: Path, argv: list[str] | None = None) -> dict:
    """Assemble a study whose parts ran separately (``--shard I/N``) from its folder."""
    record = folder / RECORD
    if not record.is_file():
        raise SpecError(f"{folder}: no {RECORD}: not the folder of a study run (results/<study>)")
    config = config_from_json(record.read_text(), str(record))
    tasks = plan(config)
    shards = load_shards(tasks, folder / "shards", log=lambda line: print(line, file=sys.stderr))
    if len(shards) < len(tasks):
        raise SpecError(f"{folder}: {len(tasks) - len(shards)} of {len(tasks)} shards missing or unreadable "
                        f"(e.g. shards/{next(t for t in tasks if t not in shards).filename}); run the missing parts")
    return finish(config, folder, shards, argv)


def _negative_values_attached(argv: list[str]) -> list[str]:
    """``--scales -1,1`` as ``--scales=-1,1``, so that argparse does not read the value
    as an option (and the scales check can name it)."""
    out = []
    for arg in argv:
        if out and out[-1] == "--scales" and arg.startswith("-"):
            out[-1] = f"--scales={arg}"
        else:
            out.append(arg)
    return out


def main(argv=None) -> int:
    args = _parser().parse_args(_negative_values_attached(sys.argv[1:] if argv is None else list(argv)))
    if args.study == "list":
        print(list_studies())
        return 0
    if args.study == "merge":
        try:
            merge(args.folder or Path(""), argv)
        except SpecError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    if args.folder is not None:
        print(f"error: unexpected argument {str(args.folder)!r} (a folder goes with merge only)", file=sys.stderr)
        return 2
    if (args.study is None) == (args.config is None):
        print("error: give a study name (see 'python -m mcsim.study list') or --config FILE"
              + (", not both" if args.study is not None else ""), file=sys.stderr)
        return 2
    if args.scheduler is not None and args.backend != "dask":
        print("error: --scheduler: goes with --backend dask", file=sys.stderr)
        return 2
    try:
        workers(args.n_jobs, "--n-jobs")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        config = load_study(args.config or study_file(args.study), quick=args.quick)
        if isinstance(config, (ComparisonConfig, InpaintConfig)):
            for option in ("scales", "haar", "shard"):
                if getattr(args, option) is not None:
                    raise SpecError(f"--{option}: not an option of this {study_kind(config.source)} study "
                                    "(it takes --quick, --networks, --iterations, --seed, --n-jobs, --out, --backend)")
            config = config.replace(networks=args.networks, iterations=args.iterations, seed=args.seed)
        else:
            config = config.replace(networks=args.networks, scales=args.scales, iterations=args.iterations,
                                    seed=args.seed, haar=args.haar)
            shard = _shard(args.shard)
    except SpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if isinstance(config, ComparisonConfig):
            run_comparison(config, args.out, args.n_jobs, argv, args.backend, args.scheduler)
        elif isinstance(config, InpaintConfig):
            run_inpaint(config, args.out, args.n_jobs, argv, args.backend, args.scheduler)
        else:
            run(config, args.out, args.n_jobs, argv, shard, args.backend, args.scheduler)
    except (SpecError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an unwritable or clashing output folder
        print(f"error: {args.out}: cannot write results: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished shards are saved; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
