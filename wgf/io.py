"""HDF5 results files (docs/theory.md §10 layout).

``ResultsFile`` writes into ``OUT.h5.partial`` and renames it to ``OUT.h5`` only
when the run completes (``os.replace`` is atomic on POSIX), so a killed run
never leaves a truncated file under the final name. All arrays are float64.

One writer per output: before it touches either file, a ``ResultsFile`` takes an
exclusive lock on the sidecar ``.OUT.h5.lock`` (``fcntl.flock``, released by the
operating system when the process dies), and a second writer of the same output
is refused with ``OutputBusyError``.

Data is durable before it is marked done: every array carries a Fletcher-32
checksum per chunk (an HDF5 filter, checked by HDF5 on every read), and
``mark_done`` writes a finished mark only after the data has been flushed and
``fsync``-ed to the disk. A resumed run re-checks what is marked done
(``intact``) and computes again whatever fails the check (docs/outputs.md).

``save_object`` and ``read_object`` write and read the small files of one object
(``History.save``, ``Trajectory.save``): netCDF-style coordinates, written under a
temporary name in the same folder and renamed (docs/outputs.md, "Saved objects").
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import logging
import os
import platform
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from wgf._version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from types import TracebackType

    import xarray as xr
    from numpy.typing import ArrayLike, DTypeLike

    from wgf._typing import PathLike

__all__ = ["ResultsFile", "partial_path", "lock_path", "ResumeError", "OutputBusyError", "intact", "output_refused",
           "coordinate", "label", "variable", "save_object", "read_object", "SavedFileError"]

log = logging.getLogger("wgf")


class ResumeError(ValueError):
    """A partial results file cannot be resumed with this config."""


class OutputBusyError(RuntimeError):
    """Another process is writing the same output."""


class SavedFileError(ValueError):
    """A file that is not a saved wgf object of the kind asked for, or a damaged one."""


def lock_path(path: PathLike) -> Path:
    """The lock file of an output (held by its one writer)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _acquire(path: Path):
    """An open file object holding the exclusive lock of the output ``path``; OutputBusyError if taken."""
    fh = open(lock_path(path), "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise OutputBusyError(f"'{path}' is being written by another wgf process: wait for it to finish "
                              "or choose another output") from None
    return fh


def output_refused(path: PathLike, *, inputs: Iterable[PathLike] = (), probe: bool = True) -> str | None:
    """Why ``path`` cannot be a results file (one line), or None; checked before any work starts.

    Refused: a folder; one of the ``inputs`` (the config itself); a parent folder that does not
    exist or where a file cannot be created (probed by creating the output's lock file, or with
    ``probe=False`` asked of the operating system, which writes nothing); a partial file or lock
    file that is not a regular file.
    """
    path = Path(path)
    if path.is_dir():
        return f"output '{path}' is a folder: give a file name (e.g. -o {path / 'results.h5'})"
    try:
        path.resolve(strict=False)
    except (OSError, RuntimeError) as e:  # a loop of symbolic links
        return f"output '{path}' cannot be resolved: {e}"
    for src in inputs:
        if Path(src).resolve() == path.resolve():
            return f"output '{path}' is the config itself: choose another -o"
    parent = path.parent
    if not parent.is_dir():
        return f"output folder '{parent}' does not exist" if not parent.exists() else \
            f"output folder '{parent}' is not a folder"
    for side in (partial_path(path), lock_path(path)):
        if side.exists() and not side.is_file():
            return f"'{side}' is in the way of the output and is not a file: remove it"
    if not probe:
        return None if os.access(parent, os.W_OK | os.X_OK) else \
            f"cannot write in the output folder '{parent}': permission denied"
    try:
        with open(lock_path(path), "a"):
            pass
    except OSError as e:
        return f"cannot write in the output folder '{parent}': {e.strerror}"
    return None


def _checksummed(shape, dtype=None) -> dict:
    """create_dataset options: a Fletcher-32 checksum on every chunk (arrays with at least one element;
    not strings, which HDF5 cannot filter)."""
    shape = tuple(shape)
    numeric = dtype is None or np.dtype(dtype).kind not in "OSU"
    return {"fletcher32": True} if numeric and len(shape) > 0 and all(int(n) > 0 for n in shape) else {}


def _stored_values(ds):
    """The values of ``ds`` as written (strings as str)."""
    return ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]


def _stored(ds, index) -> bool:
    """Whether every chunk of ``ds`` that ``ds[index]`` touches was written (a chunk never written
    reads back as the fill value: zeros that no run produced)."""
    if ds.chunks is None:
        return True
    sel = index if isinstance(index, tuple) else (index,)
    sel = tuple(slice(i, i + 1) if isinstance(i, (int, np.integer)) else i for i in sel)
    for piece in ds.iter_chunks(sel + (slice(None),) * (ds.ndim - len(sel))):
        offset = tuple(s.start - s.start % c for s, c in zip(piece, ds.chunks))
        if ds.id.get_chunk_info_by_coord(offset).byte_offset is None:
            return False
    return True


def intact(*datasets: h5py.Dataset | None, index: Any = ()) -> bool:
    """Whether ``dataset[index]`` of each dataset (None is skipped) was written, reads back with valid
    checksums and holds only finite numbers (a damaged chunk fails HDF5's Fletcher-32 check on read)."""
    for ds in datasets:
        if ds is None:
            continue
        try:
            if not _stored(ds, index):
                return False
            values = ds[index]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if not np.all(np.isfinite(values)):
            return False
    return True


def partial_path(path: PathLike) -> Path:
    """Where a results file is written until it is complete."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cpus)"
    except OSError:
        pass
    return f"{platform.machine() or 'unknown'} ({os.cpu_count()} cpus)"


def provenance() -> dict:
    """What produced a results file: versions of wgf, Python, numpy, numba, h5py, the command, the
    machine's CPU and host name (written as root attributes of every results file)."""
    import numba

    return {"python_version": platform.python_version(), "numpy_version": np.__version__,
            "numba_version": numba.__version__, "h5py_version": h5py.__version__,
            "command": " ".join(sys.argv), "cpu": _cpu(), "host": platform.node()}


def open_results(path: PathLike) -> xr.DataTree:
    """A results file as an ``xarray.DataTree`` (read lazily through the h5netcdf engine): one node per
    group, with the coordinates wgf writes (/pde: time, u0.., /particles/N<N>: seed, time, particle,
    coordinate, /compare: N, seed, time, /discovery: round, parameter, basis_vector, reference_vector,
    angle) and each variable's long_name and units; a saved History or Trajectory (``save_object``) opens
    as a tree of one node. Arrays without coordinates get ``phony_dim_*`` names."""
    import xarray as xr

    return xr.open_datatree(path, engine="h5netcdf", phony_dims="access")


def coordinate(group: h5py.Group, name: str, values: ArrayLike, *, long_name: str, units: str = "1",
               dtype: DTypeLike = "f8") -> h5py.Dataset:
    """A new 1D coordinate in an open h5py group or file: the dataset ``name`` (replacing one of that
    name) made an HDF5 dimension scale named after its last path component, which netCDF readers
    (xarray's h5netcdf engine) take as the dimension and its values."""
    values = np.asarray(values, dtype=dtype)
    if name in group:
        del group[name]
    ds = group.create_dataset(name, data=values, **_checksummed(values.shape))
    ds.attrs["long_name"] = long_name
    ds.attrs["units"] = units
    ds.make_scale(name.rsplit("/", 1)[-1])
    return ds


def label(ds: h5py.Dataset, *coordinates: h5py.Dataset) -> h5py.Dataset:
    """Attach one coordinate (``coordinate``) to each axis of ``ds``; netCDF readers need every axis of a
    variable labelled, or none."""
    if len(coordinates) != ds.ndim:
        raise ValueError(f"{ds.name} has {ds.ndim} axes, got {len(coordinates)} coordinates")
    for axis, coord in enumerate(coordinates):
        if coord.id not in [s.id for s in ds.dims[axis].values()]:
            ds.dims[axis].attach_scale(coord)
    return ds


def variable(group: h5py.Group, name: str, data: ArrayLike, *coordinates: h5py.Dataset, long_name: str,
             units: str = "1", dtype: DTypeLike = "f8", **attrs: Any) -> h5py.Dataset:
    """A new dataset ``name`` holding ``data`` (``dtype``, Fletcher-32 checksums) with its long_name, units and
    further attributes, each axis labelled with one of ``coordinates``."""
    data = np.asarray(data, dtype=dtype)
    ds = group.create_dataset(name, data=data, **_checksummed(data.shape))
    ds.attrs["long_name"] = long_name
    ds.attrs["units"] = units
    for key, value in attrs.items():
        ds.attrs[key] = value
    return label(ds, *coordinates)


def save_object(path: PathLike, kind: str, fill: Callable[[h5py.File], object]) -> Path:
    """Write a small self-describing HDF5 file of one wgf object (docs/outputs.md, "Saved objects").

    ``fill(f)`` writes the object into the open h5py file ``f``, whose root attributes already hold
    ``wgf_object = kind`` and ``wgf_version``. The file is written under a temporary name in the same
    folder, flushed, ``fsync``-ed and renamed to ``path`` (``os.replace``, atomic on POSIX): ``path``
    holds the old file or the complete new one, never a part. Raises an OSError naming ``path`` for a
    folder that does not exist and for a ``path`` that is a folder."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot save a {kind} there: it is a folder", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"cannot save a {kind}: folder '{path.parent}' does not exist",
                                str(path))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with h5py.File(tmp, "w-") as f:
            f.attrs["wgf_object"] = kind
            f.attrs["wgf_version"] = __version__
            fill(f)
            f.flush()
            try:
                os.fsync(f.id.get_vfd_handle())
            except (OSError, ValueError, TypeError):  # a driver without a file descriptor
                pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# what reading a damaged or foreign HDF5 file can raise (h5py, numpy, missing keys or attributes)
_READ_ERRORS = (KeyError, OSError, ValueError, TypeError, IndexError, AttributeError, RuntimeError)


@contextmanager
def read_object(path: PathLike, kind: str) -> Iterator[h5py.File]:
    """The open h5py file of a saved ``kind`` (``save_object``), for reading inside the ``with`` block.

    Raises FileNotFoundError or IsADirectoryError naming ``path`` for a missing file or a folder, and
    SavedFileError (a ValueError, one line naming ``path``) for a file that is not HDF5, not a saved
    ``kind`` (a results file, a foreign file) or that fails to read (a checksum, a missing variable):
    any read error raised inside the block becomes a SavedFileError."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, f"no saved {kind} there: no such file", str(path))
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"no saved {kind} there: it is a folder", str(path))
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise SavedFileError(f"'{path}' is not a saved {kind}: not an HDF5 file (or it is damaged)") from None
    try:
        found = f.attrs.get("wgf_object")
        if isinstance(found, bytes):
            found = found.decode(errors="replace")
        if found != kind:
            what = (f"it holds a saved {found}" if isinstance(found, str) else
                    "it is a wgf results file" if "wgf_version" in f.attrs else "no wgf_object attribute")
            raise SavedFileError(f"'{path}' is not a saved {kind} ({what})")
        yield f
    except SavedFileError:
        raise
    except _READ_ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SavedFileError(f"'{path}' is a damaged or incomplete saved {kind} ({reason})") from None
    finally:
        f.close()


class ResultsFile:
    """Context manager around an HDF5 results file being written.

    On normal exit the file is closed and moved to its final name; on an
    exception it is closed and left as ``*.partial``.
    """

    def __init__(self, path: PathLike, config_text: str = "", *, resume: bool = False) -> None:
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.file = None
        self._lock = _acquire(self.path)
        try:
            self._open(config_text, resume)
        except BaseException:
            self._release()
            raise

    def _release(self):
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the lock
            self._lock = None

    def _open(self, config_text, resume):
        if resume and self.tmp.exists():
            try:
                self.file = h5py.File(self.tmp, "r+")
            except OSError:
                kept = self.tmp.with_name(self.tmp.name + ".damaged")
                os.replace(self.tmp, kept)
                log.warning("'%s' cannot be opened (killed during a write, or damaged): kept as '%s', "
                            "starting over", self.tmp, kept)
            else:
                if "config" not in self.file.attrs:  # killed before its header was written
                    self.file.close()
                    self.file = None
                    log.warning("'%s' has no header (killed as it was created?): starting over", self.tmp)
                elif self.file.attrs.get("config") != config_text:
                    self.file.close()
                    raise ResumeError(f"'{self.tmp}' was written by a different config: cannot resume it")
                else:
                    log.info("resuming '%s'", self.tmp)
        if self.file is None:
            self.file = h5py.File(self.tmp, "w")
            self.file.attrs["wgf_version"] = __version__
            self.file.attrs["config"] = config_text
            for key, value in provenance().items():
                self.file.attrs[key] = value
        self.file.attrs["started"] = _now()  # of this (possibly resumed) run

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        try:
            if exc_type is None:
                self.file.attrs["finished"] = _now()
            self.file.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            self._release()
        return False

    def dataset(self, name: str, shape: Sequence[int], *, chunks: tuple[int, ...] | bool | None = None,
                attrs: Mapping[str, Any] | None = None) -> h5py.Dataset:
        """A float64 dataset filled with zeros (chunked for per-snapshot writes); an existing one
        of the same shape (a resumed file) is returned as it is."""
        if name in self.file and self.file[name].shape == tuple(shape):
            return self.file[name]
        if name in self.file:
            del self.file[name]
        ds = self.file.create_dataset(name, shape=tuple(shape), dtype="f8", chunks=chunks, fillvalue=0.0,
                                      **_checksummed(shape))
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def coordinate(self, name: str, values: ArrayLike, *, long_name: str, units: str = "1",
                   dtype: DTypeLike = "f8") -> h5py.Dataset:
        """A 1D coordinate: the dataset ``name`` made an HDF5 dimension scale named after its last path
        component, which netCDF readers (xarray's h5netcdf engine) take as the dimension and its values."""
        values = np.asarray(values, dtype=dtype)
        old = self.file.get(name)
        if (isinstance(old, h5py.Dataset) and old.is_scale and old.dtype == values.dtype
                and old.shape == values.shape and np.array_equal(_stored_values(old), values)):
            return old  # a resumed file: variables already labelled with it keep their labels
        ds = self.write(name, values, attrs={"long_name": long_name, "units": units}, dtype=dtype)
        ds.make_scale(name.rsplit("/", 1)[-1])
        return ds

    @staticmethod
    def label(ds: h5py.Dataset, *coordinates: h5py.Dataset) -> h5py.Dataset:
        """Attach one coordinate (``coordinate``) to each axis of ``ds``; netCDF readers need every
        axis of a variable labelled, or none."""
        return label(ds, *coordinates)

    def write(self, name: str, data: ArrayLike, attrs: Mapping[str, Any] | None = None, *,
              dtype: DTypeLike = "f8") -> h5py.Dataset:
        """Write a whole array, float64 by default (replacing one of that name)."""
        if name in self.file:
            del self.file[name]
        data = np.asarray(data, dtype=dtype)
        ds = self.file.create_dataset(name, data=data, **_checksummed(data.shape, data.dtype))
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def flush(self) -> None:
        self.file.flush()

    def sync(self) -> None:
        """Flush HDF5's buffers and ``fsync`` the file: what was written is on the disk."""
        self.file.flush()
        try:
            os.fsync(self.file.id.get_vfd_handle())
        except (OSError, ValueError, TypeError):  # a driver without a file descriptor
            pass

    def mark_done(self, obj: h5py.Group | h5py.Dataset, key: str = "done") -> None:
        """Set ``obj.attrs[key] = 1`` once everything written so far is on the disk, and sync the mark."""
        self.sync()
        obj.attrs[key] = 1
        self.sync()

    def unmark(self, obj: h5py.Group | h5py.Dataset, key: str = "done") -> None:
        """Remove a finished mark (its data failed the check and will be computed again)."""
        if key in obj.attrs:
            del obj.attrs[key]
