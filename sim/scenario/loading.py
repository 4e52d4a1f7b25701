"""Reading scenario files: TOML, ``extends`` chains, fitted parameters, clear errors.

A scenario is built in layers, each overriding the one beneath: the schema defaults, then the
fitted calibration (``calibration = "..."``), then the root of the ``extends`` chain, down to the
file asked for. Dated levers layer too: a child's ``[[date, value]]`` changes apply from their
first date, the parent's value holds before it.

Every problem becomes an :class:`InputError` naming the file, the key (or line) and what is
wrong; the command line prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import hashlib
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sim.scenario.dated import Dated, layer
from sim.scenario.schema import Scenario
from sim.scenario.targets import load_targets

Layers = Sequence[tuple[Path, dict[str, Any]]]   # (file, its data), lowest first


MAX_SHOWN = 200        # characters of one value in a message
MAX_EXTENDS = 50       # files in one extends chain
MAX_NESTING = 32       # levels of arrays and tables in one TOML value


def shown(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` safe to print on a terminal: control characters (ANSI escapes, newlines)
    escaped and anything past ``limit`` characters cut, so a hostile value can neither
    repaint the screen nor bury the message in megabytes."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit + 1])
    return out if len(out) <= limit else out[:limit] + "…"


class InputError(Exception):
    """Bad input: the message names the file, the key and the problem.

    Every part is passed through :func:`shown`, the one place that makes user-supplied text
    safe to echo."""

    def __init__(self, file: Path | str, key: str | None, problem: str):
        # A path may be long but not hostile-long (the system refuses over 4096 bytes).
        self.file, self.key = shown(str(file), 5 * MAX_SHOWN), key and shown(key)
        self.problem = problem
        where = f"{self.file}: " + (f"{self.key}: " if self.key else "")
        super().__init__(where + shown(problem, 4 * MAX_SHOWN))


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every way it can be unreadable into an InputError."""
    try:
        if not path.exists():
            raise InputError(path, None, "no such file")
        if not path.is_file():
            raise InputError(path, None, "not a file")
        raw = path.read_bytes()
    except OSError as err:   # too long a name, no permission, an I/O error
        raise InputError(path, None, f"cannot be read: {err.strerror or err}") from None
    if not raw.strip():
        raise InputError(path, None, "the file is empty")
    if b"\x00" in raw:
        raise InputError(path, None, "a binary file, not TOML text")
    try:
        text = raw.decode("utf-8-sig")   # a byte-order mark (Windows editors) is not TOML
    except UnicodeDecodeError as err:
        raise InputError(path, None, f"not UTF-8 text (byte {err.start})") from None
    try:
        data = copy.deepcopy(_parsed(text))   # callers may change what they are given
    except tomllib.TOMLDecodeError as err:
        raise InputError(path, None, _bad_date(text) or f"malformed TOML: {err}") from None
    except RecursionError:
        raise InputError(path, None, f"nested more than {MAX_NESTING} levels deep") from None
    _check_depth(path, data)
    return data


@functools.lru_cache(maxsize=16)
def _parsed(text: str) -> dict[str, Any]:
    """A TOML text parsed once per process: ``run`` reads the calibration's fitted file for
    the scenario's layers, for its calibration and for the parameter draws, and parsing it
    took longer than reading it."""
    return tomllib.loads(text)


def _check_depth(path: Path, data: dict[str, Any]) -> None:
    """Refuse values nested deeper than MAX_NESTING (iteratively, so no RecursionError):
    no scenario needs more than a few levels, and deeper ones would exhaust the stack of
    every recursive step after this one (merging, validation, writing)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        node, key, depth = stack.pop()
        if depth > MAX_NESTING:
            raise InputError(path, key or None, f"nested more than {MAX_NESTING} levels deep")
        items = node.items() if isinstance(node, dict) else (
            enumerate(node) if isinstance(node, list) else ())
        for k, v in items:
            if isinstance(v, (dict, list)):
                stack.append((v, f"{key}.{k}" if key else str(k), depth + 1))



_DATE_LIKE = re.compile(r"(?<![\w.-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w:.-])")


def _bad_date(text: str) -> str | None:
    """What TOML's parser reports as a broken array or value is often an impossible date
    (``2027-13-01``): name the date and the line, with the reason."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        for m in _DATE_LIKE.finditer(line.split("#", 1)[0]):
            try:
                dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError as why:
                return f"line {lineno}: {m.group(0)} is not a date ({why})"
    return None


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``top`` over ``base``; dated levers layer rather than replace."""
    out = dict(base)
    for key, value in top.items():
        below = out.get(key)
        if isinstance(value, dict) and set(value) != {"linear"} and isinstance(below, dict):
            out[key] = merge(below, value)
        elif key in out and _is_dated_change(value):
            out[key] = _layer_raw(below, value)
        else:
            out[key] = value
    return out


def _is_dated_change(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, dict) and set(value) == {"linear"})


def _layer_raw(below: Any, value: Any) -> Any:
    try:
        return layer(Dated.parse(below), Dated.parse(value)).dump()
    except ValueError:
        return value  # validation will report the bad value against the right key


def _defaults() -> dict[str, Any]:
    """Every parameter's default; not the name, which each scenario must give."""
    return Scenario(name="defaults").model_dump(mode="python", exclude={"name"})


@functools.lru_cache(maxsize=1)
def _schema_tree() -> dict[str, Any]:
    """:func:`_defaults` built once, to look keys up in (never to change): the calibration
    config checks each of its keys, which rebuilt the defaults 25 times in every ``run``."""
    return _defaults()


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, dict[str, Any]]]:
    """The extends chain, root first. A cycle is an error naming the file that closes it."""
    try:
        path = path.resolve()
    except (OSError, RuntimeError):   # a symlink loop (RuntimeError before Python 3.13)
        raise InputError(path, None, "cannot be read: a loop of symbolic links") from None
    if path in seen:
        loop = " -> ".join(p.name for p in (*seen, path))
        raise InputError(seen[-1], "extends", f"a cycle of extends: {loop}")
    if len(seen) >= MAX_EXTENDS:
        raise InputError(seen[-1], "extends", f"a chain of more than {MAX_EXTENDS} files "
                         f"(starting at {seen[0].name})")
    data = read_toml(path)
    parent = data.get("extends")
    if parent is None:
        return [(path, data)]
    if not isinstance(parent, str) or not parent:
        raise InputError(path, "extends", "must be a file name (a string)")
    target = path.parent / parent
    if not _is_file(target):
        raise InputError(path, "extends", f"no such file: {parent} (looked for "
                         f"{_shown_path(target)})")
    return _chain(target, (*seen, path)) + [(path, data)]


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return str(path)


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that answers no, not OSError, for a name too long for the system."""
    try:
        return path.is_file()
    except OSError:
        return False


def _fitted(chain: list[tuple[Path, dict[str, Any]]]) -> list[tuple[Path, dict[str, Any]]]:
    """The calibration file named nearest to the leaf with its parameters, if any.

    Returned as a layer like the chain's, so an error in a fitted value names the fitted file.
    """
    for path, data in reversed(chain):
        if "calibration" in data:
            ref = data["calibration"]
            if not isinstance(ref, str) or not ref:
                raise InputError(path, "calibration", "must be a file name (a string)")
            fitted_path = path.parent / ref
            if not _is_file(fitted_path):
                raise InputError(path, "calibration", f"no such file: {ref}")
            return [(fitted_path.resolve(), read_fitted(fitted_path).values)]
    return []


def read_fitted(path: Path) -> "Fitted":
    """A calibration file's fitted parameters (its ``[parameters]`` table), checked."""
    params = read_toml(path).get("parameters", {})
    if not isinstance(params, dict):
        raise InputError(path, "parameters", "must be a table")
    return Fitted(path.resolve(), params)


def scenario_layers(path: Path, calibrated: bool = True) -> list[tuple[Path, dict[str, Any]]]:
    """Every file's data that goes into a scenario, lowest first (fitted, then the chain).

    ``calibrated=False`` leaves out the fitted layer and every ``calibration = ...`` key: what a
    calibration starts from, so old fitted values cannot leak into a new fit.
    """
    chain = _chain(path)
    if calibrated:
        return _fitted(chain) + chain
    return [(p, {k: v for k, v in data.items() if k != "calibration"}) for p, data in chain]


def merge_layers(layers: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    merged = _defaults()
    for _, data in layers:
        merged = merge(merged, data)
    return merged


def resolve(path: Path | str, calibrated: bool = True) -> dict[str, Any]:
    """The merged, not yet validated, scenario data (without the fitted layer and with
    ``calibration`` unset when ``calibrated`` is false)."""
    data = merge_layers(scenario_layers(Path(path), calibrated))
    if not calibrated:
        data["calibration"] = None
    return data


@dataclass(frozen=True)
class Fitted:
    """A scenario's fitted parameters (a nested scenario fragment) and the calibration file
    they come from (None for an uncalibrated scenario)."""

    file: Path | None = None
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def keys(self) -> set[str]:
        """The dotted keys of the fitted parameters."""
        return {k for k, _ in leaves(self.values)}

    @property
    def label(self) -> str:
        """The file as a reader knows it: relative to the working folder where possible."""
        if self.file is None:
            return "no calibration file"
        try:
            return str(self.file.relative_to(Path.cwd()))
        except ValueError:
            return str(self.file)


def fitted_parameters(path: Path | str) -> Fitted:
    """The calibration a scenario uses: the file named nearest the leaf of its ``extends``
    chain, with its fitted parameters."""
    fitted = _fitted(_chain(Path(path)))
    return Fitted(*fitted[0]) if fitted else Fitted()


def load_scenario(path: Path | str, overrides: dict[str, Any] | None = None) -> Scenario:
    """Load, layer and validate a scenario file (plus optional in-memory overrides)."""
    path = Path(path)
    layers = scenario_layers(path)
    return validate(merge(merge_layers(layers), overrides or {}), path, layers)


def authoring_warnings(path: Path | str, scenario: Scenario) -> list[str]:
    """What a valid scenario file may not mean: a plain value that replaces a dated lever's
    whole history (calibrated or inherited), and a horizon that leaves targets out."""
    chain = _chain(Path(path))                # read once: the fitted layer comes from it
    fitted_layer = _fitted(chain)
    calibrated = Fitted(*fitted_layer[0]).keys if fitted_layer else set()
    out = []
    below = merge_layers(fitted_layer)        # the defaults and the fitted values
    for file, data in chain:
        for key, value in leaves(data):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                old = _at(below, key)
                if (key in calibrated or _is_history(old)) and old != value:
                    what = "calibrated value" if key in calibrated else "dated history"
                    out.append(f"{file}: {key} = {value:g} replaces the {what} beneath it "
                               "from the start year on, the past included; to change it from "
                               f"a date write {key.rsplit('.', 1)[-1]} = [[YYYY-MM-DD, "
                               f"{value:g}]]")
        below = merge(below, data)
    late = sorted({t.year for t in load_targets()
                   if t.status == "stated" and t.year > scenario.horizon})
    if late:
        out.append(f"{path}: horizon = {scenario.horizon} ends before the targets of "
                   f"{', '.join(map(str, late))}; they will not be evaluated")
    return out


def leaves(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted key, value)`` of every parameter a scenario fragment sets (a dated lever's
    ``{linear = ...}`` table is a value, not a section)."""
    out: list[tuple[str, Any]] = []
    for k, v in tree.items():
        if isinstance(v, dict) and set(v) != {"linear"}:
            out += leaves(v, f"{prefix}{k}.")
        else:
            out.append((prefix + k, v))
    return out


def _at(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is_history(value: Any) -> bool:
    """A dated lever with more than one value over time."""
    try:
        return value is not None and not Dated.parse(value).is_constant
    except (ValueError, TypeError):
        return False


def validate(data: dict[str, Any], file: Path | str,
             layers: Layers = (), key_prefix: str = "") -> Scenario:
    """Merged scenario data as a Scenario, or the InputError of its first problem, naming the
    layer file that states the key (else ``file``) and the key (under ``key_prefix``)."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise input_error(err, file, layers, key_prefix) from None


def input_error(err: ValidationError, file: Path | str,
                layers: Layers = (),
                key_prefix: str = "", flags: dict[str, str] | None = None) -> InputError:
    """The one conversion of a pydantic error into the message users see. ``flags`` maps
    keys that came from the command line to their flag (``seed`` -> ``--seed``), so such an
    error names the flag and ``<command line>`` rather than the file."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    problem = _problem(first)
    if first["type"] == "extra_forbidden":
        problem += _did_you_mean(tuple(str(p) for p in first["loc"]))
    if flags and key in flags:
        return InputError("<command line>", flags[key], problem)
    if key_prefix:
        key = f"{key_prefix}.{key}" if key else key_prefix
    return InputError(_file_stating(layers, first["loc"]) or file, key or None, problem)


def _schema_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in tree.items():
        out.append(prefix + k)
        if isinstance(v, dict):
            out += _schema_keys(v, f"{prefix}{k}.")
    return out


def _did_you_mean(loc: tuple[str, ...]) -> str:
    """A hint for an unknown key: a near spelling among its siblings, or the sections where a
    key of that name does belong (a misplaced key or section)."""
    keys = _schema_keys(_schema_tree())
    parent, name = ".".join(loc[:-1]), loc[-1]
    siblings = [k.rsplit(".", 1)[-1] for k in keys
                if (k.rsplit(".", 1)[0] if "." in k else "") == parent]
    close = difflib.get_close_matches(name, siblings, n=1, cutoff=0.75)
    if close:
        return f"; did you mean {'.'.join((*loc[:-1], close[0]))}?"
    homes = [k for k in keys if k.rsplit(".", 1)[-1] == name]
    if homes:
        shown = ", ".join(homes[:3]) + (" ..." if len(homes) > 3 else "")
        return f"; it belongs under another section: {shown}"
    return ""


def _file_stating(layers: Layers, loc: tuple) -> Path | None:
    """The nearest file of the layers that states the key, so the message points at it."""
    for path, data in reversed(layers):
        node: Any = data
        for part in loc:
            if isinstance(node, dict) and part in node:
                node = node[part]
            else:
                break
        else:
            return path
    return None


def _problem(error: ErrorDetails) -> str:
    kind, msg = error["type"], error["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = re.sub(r"^Value error, ", "", msg)
    value = error.get("input")
    shown = repr(value) if not isinstance(value, (dict, list)) or len(repr(value)) < 80 else None
    return f"{msg} (got {shown})" if shown and kind != "value_error" else msg


def dotted(key: str, value: Any) -> dict[str, Any]:
    """``"a.b.c", v`` -> ``{"a": {"b": {"c": v}}}``, an override for :func:`load_scenario`."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def check_key(key: str, file: Path | str = "<command line>") -> None:
    """Fail with an InputError unless ``key`` names a parameter of the schema."""
    node: Any = _schema_tree()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise InputError(file, key, "not a parameter of the scenario schema")
        node = node[part]
    if isinstance(node, dict):
        raise InputError(file, key, "names a block, not a parameter")


_UNSAFE = re.compile(r"[^\w.-]+")    # \w: Unicode letters and digits (æ, ø, å) and _
MAX_NAME = 80


def safe_name(name: str) -> str:
    """A scenario name made safe for one path component: letters (any script), digits, ``.``,
    ``_`` and ``-``; no separators, no leading dots, at most MAX_NAME characters.

    When cleaning changed the name, a short hash of the original is appended, so distinct
    names (``..`` and ``/``, ``a b`` and ``a_b``) never share a folder."""
    text = unicodedata.normalize("NFC", name)
    cleaned = _UNSAFE.sub("_", text).strip("._-")
    if cleaned == text and _fits(cleaned, MAX_NAME):
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = cleaned[:MAX_NAME - 9]
    while head and not _fits(head, MAX_NAME - 9):
        head = head[:-1]
    return f"{head.rstrip('._-') or 'scenario'}-{digest}"


def _fits(text: str, limit: int) -> bool:
    """At most ``limit`` characters and 2 bytes a character in UTF-8 (a folder name must
    stay well under the 255 bytes file systems allow, with room for temporary names)."""
    return 0 < len(text) <= limit and len(text.encode("utf-8", "surrogatepass")) <= 2 * limit


def output_dir(root: Path, name: str) -> Path:
    """``root/<safe name>``, checked to stay inside ``root``."""
    root = root.resolve()
    out = (root / safe_name(name)).resolve()
    if root not in out.parents:
        raise InputError(name, "name", "cannot be used as an output folder name")
    return out
