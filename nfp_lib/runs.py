"""A run folder: one training run's files, which no crash, second writer or mistyped command
can lose or mix.

Both backends train through a :class:`RunFolder` and hand it only their files. The layout::

    OUT/.lock            held (``flock``) by the one process writing the run; holds its pid
    OUT/epochs/N/        every file of the last committed epoch N, with the run's config.json
    OUT/latest           "N": the pointer to it, switched atomically after the folder is complete
    OUT/config.json, ... copies of the files of epochs/N, for people and notebooks to open

A run exists from its first committed epoch on: a start that fails or is stopped before it
leaves no run behind, only leftovers that the next start removes.

An epoch is written into ``epochs/.tmp-N``, synced, renamed to ``epochs/N``, and only then
does ``latest`` point to it, so a kill at any moment leaves the previous epoch or the new one,
never a mix. Resuming and :func:`latest_dir` trust only ``latest``; the top-level copies are
refreshed after each commit and at every start (copies, not links, so that writing over one
cannot damage the committed epoch). Leftovers of a killed commit are removed at the next
start.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from nfp_lib.config import Config, check_resume
from nfp_lib.fileio import atomic_write_text
from nfp_lib.validation import describe_error

LOCK_FILE, POINTER_FILE, CONFIG_FILE, EPOCHS_DIR = ".lock", "latest", "config.json", "epochs"
TEMP_PREFIX = ".tmp-"
# Model files of a run folder from before epochs/ existed (and of the shipped checkpoints).
FLAT_MODELS = ("model.pt", "model.keras")
RUN_MARKERS = (POINTER_FILE, CONFIG_FILE, *FLAT_MODELS)  # a folder that holds a run


def committed_epoch(out: str | Path) -> int:
    """The last epoch committed to the run folder ``out`` (0 when none is)."""
    pointer = Path(out) / POINTER_FILE
    if not pointer.is_file():
        return 0
    text = pointer.read_text().strip()
    if not text.isdigit() or not (Path(out) / EPOCHS_DIR / text).is_dir():
        raise ValueError(
            f"run {out}: {pointer} should name a folder in {EPOCHS_DIR}/, got {text!r}"
        )
    return int(text)


def latest_dir(out: str | Path) -> Path | None:
    """The folder of the last committed epoch of the run ``out``; None when it has none."""
    epoch = committed_epoch(out)
    return Path(out) / EPOCHS_DIR / str(epoch) if epoch else None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _link(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (a copy where links are not possible)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


class RunFolder:
    """The one writer of a run folder; use :meth:`open`, then :meth:`commit_epoch` per epoch,
    then :meth:`close` (or use it as a context manager)."""

    def __init__(self, out: Path, config: Config, lock: int) -> None:
        self.out, self.config, self._lock = out, config, lock
        self.resume_dir: Path | None = None  # the committed epoch to resume from

    @classmethod
    def open(
        cls, out: str | Path, config: Config, resume: bool = False, overwrite: bool = False
    ) -> RunFolder:
        """Lock ``out`` and make it ready for ``config``'s run.

        A folder that holds a run is continued with ``resume`` (from its committed epoch,
        :attr:`resume_dir`, with a config that :func:`~nfp_lib.config.check_resume` accepts),
        moved aside to ``OUT.old-<time>`` with ``overwrite``, and refused otherwise. Nothing is
        written but the lock until an epoch is committed.
        """
        out = Path(out)
        if resume and overwrite:
            raise ValueError("--resume, --overwrite: expected one of them, got both")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: expected a directory, got a file")
        try:
            out.mkdir(parents=True, exist_ok=True)
            run = cls(out, config, _lock(out / LOCK_FILE))
        except OSError as err:
            raise ValueError(f"--out {out}: cannot write there ({describe_error(err)})") from None
        try:
            run._prepare(resume, overwrite)
        except OSError as err:
            run.close()
            raise ValueError(f"--out {out}: cannot write there ({describe_error(err)})") from None
        except BaseException:
            run.close()
            raise
        return run

    def _prepare(self, resume: bool, overwrite: bool) -> None:
        out = self.out
        if resume:
            self.resume_dir = latest_dir(out)
            if self.resume_dir is None:
                flat = any((out / name).exists() for name in FLAT_MODELS)
                raise ValueError(
                    f"resume: expected a committed epoch in {out} ({POINTER_FILE} and "
                    f"{EPOCHS_DIR}/), found none; "
                    + (
                        "its model is from an older nfp_lib or a shipped checkpoint and cannot "
                        "be continued exactly: start anew with --overwrite, which moves it aside"
                        if flat
                        else "start the run without --resume"
                    )
                )
            saved = _read_config(self.resume_dir / CONFIG_FILE)
            check_resume(out, saved, self.config, committed_epoch(out))
            self._clean()
            self._refresh_copies()
            return
        if any((out / name).exists() for name in RUN_MARKERS):
            if not overwrite:
                raise ValueError(
                    f"--out {out} holds a run (epoch {committed_epoch(out)} committed); continue "
                    "it with --resume (resume=True), or move it aside with --overwrite "
                    "(overwrite=True)"
                )
            self._move_aside()
        self._clean()

    def _move_aside(self) -> None:
        """Move every file of the folder but the lock to ``OUT.old-<time>``."""
        aside = self.out.with_name(f"{self.out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        aside.mkdir()
        for entry in self.out.iterdir():
            if entry.name != LOCK_FILE:
                entry.rename(aside / entry.name)

    def _clean(self) -> None:
        """Remove what killed writes left: temporaries and epoch folders not committed."""
        keep = str(committed_epoch(self.out))
        epochs = self.out / EPOCHS_DIR
        for entry in epochs.iterdir() if epochs.is_dir() else ():
            if entry.name != keep:
                shutil.rmtree(entry)
        for entry in self.out.iterdir():
            if entry.name.startswith((TEMP_PREFIX, f".{POINTER_FILE}.")):
                entry.unlink()

    def commit_epoch(
        self, epoch: int, write: Callable[[Path], None], keep: tuple[str, ...] = ()
    ) -> Path:
        """Make epoch ``epoch`` the run's committed one, all its files or none; returns its folder.

        ``write(folder)`` writes the backend's files into a fresh folder; the files named in
        ``keep`` that it did not write are carried over from the previous epoch. A full disk or
        another write error raises a ``ValueError`` and leaves the previous epoch committed.
        """
        epochs = self.out / EPOCHS_DIR
        epochs.mkdir(exist_ok=True)
        tmp, final = epochs / f"{TEMP_PREFIX}{epoch}", epochs / str(epoch)
        previous = latest_dir(self.out)
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            write(tmp)
            for name in keep:
                if previous is not None and not (tmp / name).exists():
                    _link(previous / name, tmp / name)
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
            for file in sorted(tmp.iterdir()):
                _fsync(file)
            _fsync(tmp)
            shutil.rmtree(final, ignore_errors=True)  # an earlier, never committed attempt
            tmp.rename(final)
            _fsync(epochs)
            atomic_write_text(self.out / POINTER_FILE, f"{epoch}\n")
        except (OSError, RuntimeError) as err:
            reason = _write_error(err, epochs)
            shutil.rmtree(tmp, ignore_errors=True)
            raise ValueError(
                f"--out {self.out}: could not save epoch {epoch} ({reason}); the run still "
                f"holds epoch {committed_epoch(self.out)}"
            ) from err
        self._refresh_copies()
        self._clean()
        return final

    def _refresh_copies(self) -> None:
        """Copy the committed epoch's files to the top level, each replaced atomically."""
        folder = latest_dir(self.out)
        for file in sorted(folder.iterdir()) if folder else ():
            tmp = self.out / f"{TEMP_PREFIX}{file.name}"
            shutil.copyfile(file, tmp)
            os.replace(tmp, self.out / file.name)

    def close(self) -> None:
        """Release the lock and remove its file."""
        if self._lock >= 0:
            (self.out / LOCK_FILE).unlink(missing_ok=True)
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = -1

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lock(path: Path) -> int:
    """Hold an exclusive ``flock`` on ``path`` and write this process' pid into it. A lock left
    by a dead process is free (the kernel dropped it with the process), so it is taken over."""
    import fcntl  # POSIX only: imported here so that reading runs works everywhere

    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(
                f"--out {path.parent}: another training (pid {holder}) is writing this run; "
                "wait for it to end, or choose another --out"
            ) from None
        if path.exists() and path.stat().st_ino == os.fstat(fd).st_ino:
            break
        os.close(fd)  # its holder removed the file as we locked it: lock the new one
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _write_error(err: BaseException, folder: Path) -> str:
    """Why a write failed, in a few words; torch reports a full disk as a RuntimeError about
    "unexpected pos", so a failure with under 1 MiB left is called what it is."""
    if not isinstance(err, OSError) and shutil.disk_usage(folder).free < 2**20:
        return "No space left on device"
    return describe_error(err)


def _read_config(path: Path) -> Config:
    try:
        return Config.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"run: {path} is not a readable config ({err})") from None
