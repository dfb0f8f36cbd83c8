"""Study files: ``studies/NAME.toml`` read into a validated :class:`StudyConfig`.

A study file holds ``iterations``, ``networks`` (per width), ``scales`` (width
multipliers), ``seed``, optionally ``description``, ``shard_size`` (networks per
result shard, default 25) and ``haar`` (the form of the orthogonal factors,
``mcsim.orthogonal``: default ``auto``; every form is exact), one
``[[network]]`` table per network type (``name``, ``file`` relative to the study
file) and a ``[quick]`` table overriding any of the scalar keys (its results go
to ``NAME-quick``).
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from . import studies
from .factors.given import TRAINED_LABEL
from .orthogonal import check_haar_method
from .spec import NetworkSpec, SpecError, read_toml

STUDIES = Path(studies.__file__).resolve().parent  # the shipped study files (package data)
_SCALARS = {"description", "iterations", "networks", "scales", "seed", "shard_size", "haar"}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One study: which networks, at which widths, how many, how long, which seed."""

    name: str
    source: Path
    networks: int
    iterations: int
    scales: tuple[float, ...]
    seed: int
    specs: dict[str, NetworkSpec]  # network type -> spec at scale 1
    description: str = ""
    shard_size: int = 25
    haar: str = "auto"
    origin: str = dataclasses.field(default="", compare=False)  # where overriding values came from

    def __post_init__(self):
        where = self.origin or str(self.source)
        try:
            check_haar_method(self.haar)
        except ValueError as err:
            raise SpecError(f"{where}: {err}") from None
        if isinstance(self.networks, bool) or not isinstance(self.networks, int) or self.networks < 2:
            raise SpecError(f"{where}: networks: must be an integer >= 2 (statistics need two), "
                            f"got {self.networks!r}")
        for key in ("iterations", "shard_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"{where}: {key}: must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpecError(f"{where}: seed: must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.scales, tuple) or not self.scales or any(
                isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < math.inf for s in self.scales):
            raise SpecError(f"{where}: scales: must be a non-empty list of positive numbers, got {self.scales!r}")
        if len(set(self.scales)) != len(self.scales):
            raise SpecError(f"{where}: scales: repeated value in {list(self.scales)}")
        if not self.specs:
            raise SpecError(f"{where}: network: a study needs at least one [[network]]")

    @classmethod
    def load(cls, path, quick: bool = False) -> "StudyConfig":
        """Read and validate a study file; ``quick`` applies its ``[quick]`` table."""
        path = Path(path)
        raw, specs = read_study_file(path, _SCALARS, {"iterations", "networks", "scales", "seed"}, quick)
        scales = raw.pop("scales")
        scales = tuple(scales) if isinstance(scales, list) else (scales,)
        name = f"{path.stem}-quick" if quick else path.stem  # results of the two presets kept apart
        return cls(name=name, source=path, specs=specs, scales=scales, **raw)

    def replace(self, origin: str = "the command line", **overrides) -> "StudyConfig":
        """A copy with the non-None ``overrides`` applied (validated again; errors name ``origin``)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        given["origin"] = origin if given else ""
        if "scales" in given:
            given["scales"] = tuple(given["scales"])
        if given.get("haar", self.haar) != self.haar:  # another ensemble: results kept apart
            given["name"] = f"{self.name}-{given['haar']}"
        return dataclasses.replace(self, **given)


def read_study_file(path: Path, scalars: set, required: set, quick: bool,
                    networks: bool = True) -> tuple[dict, dict[str, NetworkSpec]]:
    """The scalar keys of a study file (its ``[quick]`` table applied if ``quick``; the
    ``kind`` key dropped) and its network specs (none unless ``networks``: then its
    ``[[network]]`` tables are required); SpecError naming an unknown or missing key."""
    raw = read_toml(path)
    keys = scalars | {"kind", "quick"} | ({"network"} if networks else set())
    unknown = set(raw) - keys
    if unknown:
        raise SpecError(f"{path}: {sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(keys))})")
    raw_keys = set(raw)
    quick_table = raw.pop("quick", {})
    if not isinstance(quick_table, dict) or set(quick_table) - scalars:
        raise SpecError(f"{path}: quick: must be a table of {', '.join(sorted(scalars))}")
    if quick:
        if "quick" not in raw_keys:
            raise SpecError(f"{path}: --quick: this study has no [quick] table (a reduced preset)")
        raw.update(quick_table)
    raw.pop("kind", None)
    missing = (required | ({"network"} if networks else set())) - set(raw)
    if missing:
        raise SpecError(f"{path}: {sorted(missing)[0]}: missing")
    return raw, network_specs(path, raw.pop("network")) if networks else {}


def network_specs(path: Path, entries) -> dict[str, NetworkSpec]:
    """The ``[[network]]`` tables (``name``, ``file`` relative to the study file, and an
    optional ``run`` table replacing the spec's ``[run]``: damping, divergence) of a
    study file."""
    if not isinstance(entries, list):
        raise SpecError(f"{path}: network: must be a list of [[network]] tables")
    specs = {}
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or not {"name", "file"} <= set(entry) <= {"name", "file", "run"}:
            raise SpecError(f"{path}: network[{k}]: needs the keys name and file (and optionally run)")
        if entry["name"] in specs:
            raise SpecError(f"{path}: network[{k}].name: {entry['name']!r} appears twice")
        try:
            source = NetworkSpec.from_toml(path.parent / entry["file"]).source
            if "run" in entry:
                source = dict(source, run=entry["run"])
            specs[entry["name"]] = NetworkSpec.from_dict(source)
            if specs[entry["name"]].trained:
                raise SpecError(f"{TRAINED_LABEL}, and this study judges networks by it (use a study of kind inpaint)")
        except SpecError as err:
            raise SpecError(f"{path}: network[{k}] ({entry['file']}): {err}") from None
    return specs


def config_to_json(config) -> str:
    """The resolved study (a :class:`StudyConfig` or a comparison study; networks as their
    spec dicts) as JSON: what ``merge`` rebuilds it from."""
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(source=str(config.source), specs={name: spec.source for name, spec in config.specs.items()})
    fields.pop("origin", None)  # where overrides came from: not part of what the study is
    if "scales" in fields:
        fields["scales"] = list(config.scales)
    return json.dumps(fields, sort_keys=True, indent=1)


def config_from_json(text: str, where: str) -> StudyConfig:
    """Inverse of :func:`config_to_json`; SpecError naming ``where`` if it is not one."""
    try:
        fields = json.loads(text)
        fields["source"] = Path(fields["source"])
        fields["scales"] = tuple(fields["scales"])
        fields["specs"] = {name: NetworkSpec.from_dict(d) for name, d in fields["specs"].items()}
        return StudyConfig(**fields)
    except (ValueError, KeyError, TypeError) as err:
        raise SpecError(f"{where}: not a study record ({err})") from None


def study_file(name: str) -> Path:
    """``studies/NAME.toml``, or SpecError listing the known studies."""
    path = STUDIES / f"{name}.toml"
    if not path.is_file():
        raise SpecError(f"study {name!r}: no file {path} (known: {', '.join(known_studies())})")
    return path


def known_studies() -> list[str]:
    return sorted(p.stem for p in STUDIES.glob("*.toml"))
