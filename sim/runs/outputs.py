"""Writing results: every file atomically, every folder as a unit, the resolved scenario.

A file is written to a temporary name in its own folder and renamed into place, so an
interrupted command leaves the old complete file or none, never half a file. A command's
output folder is written the same way one level up (:class:`OutputFolder`): every file goes
into a staging folder beside the target, which then replaces the target, so a reader sees the
old set or the new one, never a mix; a lock keeps two commands out of one folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import sys
import re
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

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


# ``atomic_write``'s temporary names: "." + the file's name + "." + mkstemp's 8 characters.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def claim_folder(out: Path) -> Path:
    """The folder a command will write to: refused if a file stands in the way."""
    if out.exists() and not out.is_dir():
        raise InputError(out, None, "the output path exists and is not a folder")
    return out


def own_temporary(path: Path, owns: Callable[[str], bool]) -> bool:
    """Whether ``path`` is a temporary file ``atomic_write`` made for a file this tool owns
    (``owns(name)``): the only kind of file a cleanup may delete."""
    match = _TEMPORARY.fullmatch(path.name)
    return (match is not None and owns(match["name"]) and path.is_file()
            and not path.is_symlink())


def remove_leftovers(folder: Path, owns: Callable[[str], bool]) -> int:
    """Delete the temporary files an earlier, killed write left in ``folder`` for the files
    ``owns`` accepts, and nothing else (a user's ``.session.tmp`` is left alone).

    Only the command that holds the folder's lock calls this, so no live write can lose its
    temporary file."""
    if not folder.is_dir():
        return 0
    stale = [p for p in folder.iterdir() if own_temporary(p, owns)]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


class FolderLock:
    """An exclusive, non-blocking lock on an output folder (``.<name>.lock`` beside it).

    The lock file is removed on release; the inode check after locking makes that safe
    (a command that opened the file just before it was removed retries on the new one).
    A killed command's lock is released by the kernel with its process."""

    def __init__(self, out: Path):
        self.out, self.path, self.fd = out, out.parent / f".{out.name}.lock", -1

    def acquire(self) -> "FolderLock":
        self.out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            if not _try_lock(fd):
                os.close(fd)
                raise InputError(self.out, None, "another command is writing this folder "
                                 "now; wait for it to finish or choose another --out")
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                return self
            os.close(fd)

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":   # the first byte, locked without waiting
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return False
        raise


class OutputFolder:
    """A command's output folder, written as a unit.

    ``with OutputFolder(out, estimate) as folder:`` takes the lock, clears what an earlier
    killed command of this tool left beside the folder, and checks that the folder can be
    written and has room for ``estimate`` bytes, all before anything is simulated.
    ``folder.write(fn)`` calls ``fn(staging)`` with a staging folder ``.<name>.staging-<pid>``
    beside ``out``; :meth:`commit` moves the old folder aside, renames the staging folder into
    place and deletes the old one. Files in the old folder that the command does not own
    (``owned`` names, the files it writes now, their temporaries) are carried over by hard
    link, so a user's file is never deleted. Leaving the block any other way removes the
    staging folder and leaves ``out`` as it was.
    """

    def __init__(self, out: Path, estimate: int = 0, owned: Iterable[str] = ()):
        self.out = Path(os.path.abspath(out))      # ``.`` has no name to stage beside
        self.estimate, self.owned = estimate, set(owned)
        self.lock = FolderLock(self.out)
        self.staging = self.out.parent / f".{self.out.name}.staging-{os.getpid()}"
        self.committed = False

    def __enter__(self) -> "OutputFolder":
        self._check_replaceable()
        try:
            self.lock.acquire()
        except OSError as err:
            raise _write_error(self.out, err) from None
        try:
            self._recover()
            preflight(self.out, self.estimate)
            self._foreign_folders()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, kind: type | None, err: BaseException | None, tb: object) -> None:
        try:
            shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self.lock.release()
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            state = ("was written completely" if self.committed else
                     "is as it was before this command; nothing of it was written")
            raise kind(f"{self.out} {state}") from None   # SIGTERM's subclass kept

    def write(self, fn: Callable[[Path], Any]) -> Any:
        """``fn(staging)``; a failed write (full disk, read-only) is an InputError saying the
        folder is unchanged."""
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
            return fn(self.staging)
        except OSError as err:
            raise _write_error(self.out, err) from None

    def commit(self) -> None:
        """Swap the staging folder in; signals wait until the folder is whole again."""
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        try:
            self._carry_over()
            with _signals_deferred():
                if self.out.exists():
                    os.rename(self.out, old)
                os.rename(self.staging, self.out)
                self.committed = True
        except OSError as err:
            raise _write_error(self.out, err) from None
        shutil.rmtree(old, ignore_errors=True)

    def _owns(self, name: str) -> bool:
        return name in self.owned or (self.staging / name).exists()

    def _check_replaceable(self) -> None:
        """Refuse, before anything runs, a target the swap must not replace: a file, a
        symbolic link, the working folder or one of its parents."""
        claim_folder(self.out)
        if self.out.is_symlink():
            raise InputError(self.out, None, "the output path is a symbolic link; give the "
                             "folder it points to")
        if self.out == Path.cwd() or self.out in Path.cwd().parents:
            raise InputError(self.out, None, "the output folder would replace the working "
                             "folder; choose a folder inside it")
        if self.out.is_dir() and os.path.ismount(self.out):
            raise InputError(self.out, None, "the output folder is a mount point, which "
                             "cannot be replaced as a whole; choose a folder inside it")

    def _foreign_folders(self) -> None:
        """Refuse an old folder holding a sub-folder the command does not make: it could
        only be carried over by moving it, which a kill could strand."""
        if not self.out.is_dir():
            return
        for entry in self.out.iterdir():
            if entry.is_dir() and not entry.is_symlink() and entry.name not in self.owned:
                raise InputError(self.out, None, f"holds a folder {entry.name!r} that this "
                                 "command did not make; move it away or choose another --out")

    def _carry_over(self) -> None:
        """Hard-link the old folder's foreign files into the staging folder."""
        if not self.out.is_dir():
            return
        for entry in self.out.iterdir():
            if self._owns(entry.name) or own_temporary(entry, self._owns):
                continue
            if entry.is_dir() and not entry.is_symlink():
                raise InputError(self.out, None, f"holds a folder {entry.name!r} that this "
                                 "command did not make; move it away and rerun")
            try:
                os.link(entry, self.staging / entry.name, follow_symlinks=False)
            except OSError:
                shutil.copy2(entry, self.staging / entry.name, follow_symlinks=False)

    def _recover(self) -> None:
        """Undo what a killed command of this tool left: its staging folder and preflight
        probe are deleted; an old folder moved aside is put back if the new one never
        arrived, else deleted."""
        prefix = f".{self.out.name}."
        for entry in self.out.parent.iterdir():
            tail = entry.name[len(prefix):] if entry.name.startswith(prefix) else ""
            if re.fullmatch(r"probe-[a-z0-9_]{8}", tail) and entry.is_file():
                entry.unlink(missing_ok=True)      # preflight's probe, killed mid-check
            if not entry.is_dir() or entry.is_symlink():
                continue
            if re.fullmatch(r"staging-\d+", tail):
                shutil.rmtree(entry, ignore_errors=True)
            elif re.fullmatch(r"old-\d+", tail):
                if self.out.exists():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    os.rename(entry, self.out)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back (main thread only) for the two renames of a commit."""
    blockable = hasattr(signal, "pthread_sigmask") and _main_thread()
    held = {signal.SIGINT, signal.SIGTERM}
    if blockable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if blockable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _write_error(out: Path, err: OSError) -> InputError:
    what = err.strerror or str(err)
    where = f" ({err.filename})" if err.filename else ""
    return InputError(out, None, f"cannot write the output: {what}{where}; the folder is as "
                      "it was before this command")


BYTES_PER_ROW = 40            # runs.parquet, a generous average over the columns
FIXED_BYTES = 8 * 2**20       # report.html, summary and the small files


def estimate_bytes(rows: int) -> int:
    """A rough upper estimate of an output folder's size for ``rows`` result rows."""
    return FIXED_BYTES + BYTES_PER_ROW * rows


def preflight(out: Path, estimate: int) -> None:
    """Fail now, not after the simulation, if ``out`` cannot be written or lacks room:
    a probe file is created (and removed) beside it, and the free space compared with
    ``estimate`` (the staging folder needs that much while the old folder still exists)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.probe-", dir=out.parent)
        os.close(fd)
        os.unlink(probe)
        if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(out))
        free = shutil.disk_usage(out.parent).free
    except OSError as err:
        raise InputError(out, None, f"cannot write here: {err.strerror or err}") from None
    if free < estimate:
        raise InputError(out, None, f"not enough free space: the output needs about "
                         f"{_mb(estimate)} and {_mb(free)} is free")


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    """``frame`` as parquet, coded columns as text (:func:`as_text`)."""
    return atomic_write(path, lambda tmp: as_text(frame).write_parquet(tmp, statistics=False))


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its Enum columns as text and Categorical ones cast to text. A run holds
    ``series`` and ``measure`` as codes to save memory (``sim.runs.replications.run_frame``);
    its files keep the text columns, and with them their bytes.

    An Enum column is gathered from its categories, so that every row is a view into the
    same few strings: a cast copies each row's text (writing runs.parquet of 1,000
    replications took 60 MiB above the table with a cast, 41 MiB gathered)."""
    text = {name: (pl.Series(name, dtype.categories).gather(frame[name].to_physical())
                   if isinstance(dtype, pl.Enum) else frame[name].cast(pl.String))
            for name, dtype in frame.schema.items()
            if isinstance(dtype, (pl.Enum, pl.Categorical))}
    return frame.with_columns(**text) if text else frame


def write_text(text: str, path: Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(data: bytes, path: Path) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    return atomic_write(path, lambda tmp: as_text(frame).write_csv(tmp))


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
    data["meta"] = {**data.get("meta", {}), "package_version": __version__, **meta,
                    "versions": library_versions()}
    return header + tomli_w.dumps(data)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.date()
    return value
