"""Writing results: every file atomically, the resolved scenario for exact reruns.

A file is written to a temporary name in its own folder and renamed into place, so an
interrupted command leaves the old complete file or none, never half a file.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import polars as pl
import tomli_w

from sim import __version__
from sim.runs.provenance import library_versions
from sim.scenario.loading import InputError
from sim.scenario.schema import Scenario


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` then rename ``tmp`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; results are meant to be shared
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def claim_folder(out: Path) -> Path:
    """The folder a command will write to: refused if a file stands in the way; temporary
    files that an earlier, killed write left there are removed."""
    if out.exists() and not out.is_dir():
        raise InputError(out, None, "the output path exists and is not a folder")
    remove_leftovers(out)
    return out


def remove_leftovers(folder: Path) -> int:
    """Delete the temporary files an earlier, killed write left in ``folder``.

    Only the command that owns the folder calls this, before it writes, so no live write can
    lose its temporary file."""
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.glob(".*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: frame.write_parquet(tmp, statistics=False))


def write_text(text: str, path: Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: frame.write_csv(tmp))


def resolved_toml(scenario: Scenario, **meta: Any) -> str:
    """The fully resolved scenario (defaults and fitted values filled in) as TOML, with the
    versions that made it in ``[meta.versions]`` (a rerun under other versions may differ)."""
    data = _drop_none(scenario.model_dump(mode="python", exclude={"extends", "calibration"}))
    for block in ("armed_forces", "dema"):
        c = data[block]["conscription"]
        if "equal_from" not in c:
            c["equal_from"] = "never"
    header = (f"# Resolved scenario written by wps-deploy-sim {__version__}.\n"
              f"# Rerun exactly with: python run_scenario.py run THIS_FILE, under the library\n"
              f"# versions of [meta.versions] (see constraints/reproduce.txt).\n")
    data["meta"] = {"package_version": __version__, **meta, "versions": library_versions()}
    return header + tomli_w.dumps(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date()
    return value
