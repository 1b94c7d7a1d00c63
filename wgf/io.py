"""HDF5 results files (docs/theory.md §10 layout).

``ResultsFile`` writes into ``OUT.h5.partial`` and renames it to ``OUT.h5`` only
when the run completes (``os.replace`` is atomic on POSIX), so a killed run
never leaves a truncated file under the final name. All arrays are float64.

One writer per output: before it opens anything, a ``ResultsFile`` takes an exclusive
lock on the sidecar ``.OUT.h5.lock`` (``fcntl.flock``, released by the operating
system when the process dies; the lock is verified to be the file the path names,
and the file is removed by its holder when done) and a second exclusive lock on the
partial file itself, taken before HDF5 opens (and would truncate) it: a second writer
of the same output is refused with ``OutputBusyError``, even when the sidecar was
deleted from under the first. Output names that collide with another output's
partial or lock file are refused (``output_refused``).

Metadata is checksummed as well as values: ``seal`` stores in every group and
dataset a ``metadata_checksum`` attribute, a digest of its path, shape, type, chunks
and attributes (``metadata_digest``); ``damaged_metadata`` lists what fails it.
A resumed partial is verified whole (metadata and every stored chunk); one that
fails, or that HDF5 cannot use (a full disk during a write), is rebuilt from its
verified parts (``rebuild``): what is damaged is left out and computed again.
Before each write batch the writers ask for room (``ResultsFile.room``): a disk
that cannot take it (or a file size limit) stops the run cleanly, before HDF5
fails halfway through a write.

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
import gc
import hashlib
import logging
import os
import platform
import re
import resource
import secrets
import sys
import time
import traceback
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

__all__ = ["ResultsFile", "OutputLock", "partial_path", "lock_path", "ResumeError", "OutputBusyError", "NoRoomError",
           "intact", "open_results",
           "output_refused", "coordinate", "label", "variable", "save_object", "read_object", "SavedFileError",
           "METADATA_CHECKSUM", "metadata_digest", "damaged_metadata", "damaged_chunks", "rebuild", "WRITE_MARGIN",
           "MARK_SECONDS", "Batch"]

log = logging.getLogger("wgf")


class ResumeError(ValueError):
    """A partial results file cannot be resumed with this config."""


class OutputBusyError(RuntimeError):
    """Another process is writing the same output."""


class NoRoomError(OSError):
    """The disk (or the file size limit) cannot take the next write: raised before the write, so the file is
    intact and is sealed and closed as usual."""


class SavedFileError(ValueError):
    """A file that is not a saved wgf object of the kind asked for, or a damaged one."""


def lock_path(path: PathLike) -> Path:
    """The lock file of an output (held by its one writer)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not removed or replaced since it was opened)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    fs = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fs.st_dev, fs.st_ino)


def _busy(path: Path) -> OutputBusyError:
    return OutputBusyError(f"'{path}' is being written by another wgf process: wait for it to finish "
                           "or choose another output")


def _flock(target: Path, output: Path, *, create: bool = True) -> int | None:
    """A descriptor of ``target`` holding its exclusive ``flock`` (None: ``target`` does not exist and
    ``create`` is False); OutputBusyError naming ``output`` if another process holds it. The lock is taken
    on the file the path names when it is taken: a file removed or replaced meanwhile is locked again."""
    for _ in range(100):
        try:
            fd = os.open(target, os.O_RDWR | (os.O_CREAT if create else 0) | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileNotFoundError:
            if create:
                raise
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(output) from None
        except BaseException:
            os.close(fd)
            raise
        if _same_file(fd, target):
            return fd
        os.close(fd)  # removed or replaced by its last holder between open and lock: take the new one
    raise _busy(output)


class OutputLock:
    """The exclusive lock of one output ``path``: ``flock`` on its sidecar ``.OUT.h5.lock`` (OutputBusyError
    if another process holds it), verified to be the file the path names. ``release`` removes the sidecar
    (while still holding it, and only if it is still the one locked) and unlocks it; so does the operating
    system when the process dies, leaving the file behind, which the next writer takes over."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        self.file = lock_path(self.path)
        self._fd = _flock(self.file, self.path)

    @property
    def held(self) -> bool:
        """Whether the lock is held and the sidecar's path still names the locked file."""
        return self._fd is not None and _same_file(self._fd, self.file)

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.file):
                os.unlink(self.file)
        except OSError:
            pass
        finally:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _acquire(path: Path) -> OutputLock:
    """The exclusive lock of the output ``path`` (``OutputLock``); OutputBusyError if taken."""
    return OutputLock(path)


# suffixes of the files that belong to an output besides itself (an output may not be named like them)
SIDE_SUFFIXES = {".partial": "the partial file", ".partial.damaged": "the damaged partial file set aside",
                 ".partial.rebuild": "the partial file being rebuilt"}


def _side_name(path: Path) -> str | None:
    """What file of another output ``path`` is named like (None: none)."""
    name = path.name
    if name.startswith(".") and name.endswith(".lock"):
        return f"the lock file of '{path.with_name(name[1:-5])}'"
    for suffix, what in SIDE_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{what} of '{path.with_name(name[:-len(suffix)])}'"
    return None


def output_refused(path: PathLike, *, inputs: Iterable[PathLike] = (), probe: bool = True) -> str | None:
    """Why ``path`` cannot be a results file (one line), or None; checked before any work starts.

    Refused: a name like another output's partial or lock file (``x.h5.partial``, ``.x.h5.lock``); a
    folder; one of the ``inputs`` (the config itself); a parent folder that does not exist or where a file
    cannot be created (probed by creating and removing a file of a name of its own, or with ``probe=False``
    asked of the operating system, which writes nothing); a partial file or lock file that is not a
    regular file.
    """
    path = Path(path)
    side = _side_name(path)
    if side:
        return f"output '{path}' is named like {side}: choose another name"
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
    probe_file = parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.probe"
    try:
        os.close(os.open(probe_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        os.unlink(probe_file)
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


# ------------------------------------------------------------------ metadata checksums
METADATA_CHECKSUM = "metadata_checksum"
# attributes HDF5's dimension scales keep up to date themselves (object references); not in the digest
_UNDIGESTED = (METADATA_CHECKSUM, "DIMENSION_LIST", "REFERENCE_LIST")


def _attr_bytes(value) -> bytes:
    a = np.asarray(value)
    if a.dtype.kind in "OSUV":
        items = [x.decode("utf-8", "surrogateescape") if isinstance(x, bytes) else str(x) for x in a.ravel().tolist()]
        return repr((a.shape, items)).encode("utf-8", "surrogatepass")
    return a.dtype.str.encode() + repr(a.shape).encode() + a.tobytes()


def metadata_digest(obj: h5py.Group | h5py.Dataset) -> str:
    """The digest (BLAKE2b, 8 bytes, hex) of what wgf reads of an object besides its values: its path,
    for a dataset its shape, maximum shape, dtype, chunks and checksum filter, and every attribute (name, type, shape,
    value) but the checksum itself and the dimension scales' own references."""
    h = hashlib.blake2b(digest_size=8)
    h.update(obj.name.encode("utf-8", "surrogatepass") + b"\0")
    if isinstance(obj, h5py.Dataset):
        h.update(repr((obj.shape, obj.maxshape, obj.dtype.str, obj.chunks, obj.fletcher32)).encode())
    for key in sorted(obj.attrs):
        if key not in _UNDIGESTED:
            h.update(key.encode("utf-8", "surrogatepass") + b"\0" + _attr_bytes(obj.attrs[key]) + b"\0")
    return h.hexdigest()


def _objects(f: h5py.Group, problems: list | None = None):
    """The group ``f`` (the root of a file) and every group and dataset below it, depth first; an object that
    cannot be opened is listed in ``problems`` as (path, why) and skipped."""
    yield f
    stack = [f]
    while stack:
        group = stack.pop()
        try:
            keys = sorted(group.keys())
        except _READ_ERRORS as e:
            if problems is not None:
                problems.append((group.name, f"its members cannot be read ({_first_line(e)})"))
            continue
        for key in keys:
            path = f"{group.name.rstrip('/')}/{key}"
            try:
                obj = group[key]
            except _READ_ERRORS as e:
                if problems is not None:
                    problems.append((path, f"it cannot be opened ({_first_line(e)})"))
                continue
            yield obj
            if isinstance(obj, h5py.Group):
                stack.append(obj)


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def damaged_metadata(f: h5py.File, *, complete: bool = True) -> list[tuple[str, str]]:
    """(path, why) of every object of an open results file whose metadata fails its checksum
    (``metadata_digest``) or cannot be read. ``complete``: an object without a checksum is damaged too
    (a finished file is sealed whole); else only a group holding attributes (its finished marks) is."""
    problems = []
    for obj in _objects(f, problems):
        try:
            stored = obj.attrs.get(METADATA_CHECKSUM)
            if stored is None:
                if complete or (isinstance(obj, h5py.Group) and len(obj.attrs)):
                    problems.append((obj.name, "it has no metadata checksum"))
            elif not isinstance(stored, str) or stored != metadata_digest(obj):
                problems.append((obj.name, "its attributes, shape or type fail their checksum"))
        except _READ_ERRORS as e:
            problems.append((obj.name, f"its metadata cannot be read ({_first_line(e)})"))
    return problems


def _chunk_stored(ds: h5py.Dataset, sel) -> bool:
    offset = tuple(s.start for s in sel)
    return ds.id.get_chunk_info_by_coord(offset).byte_offset is not None


def damaged_chunks(ds: h5py.Dataset) -> list:
    """The selections of the stored chunks of ``ds`` that fail to read (Fletcher-32, or a part beyond the
    end of the file); a contiguous dataset is one selection ``()``."""
    if ds.chunks is None:
        try:
            ds[()]
        except _READ_ERRORS:
            return [()]
        return []
    bad = []
    if ds.size == 0:
        return bad
    for sel in ds.iter_chunks():
        try:
            if _chunk_stored(ds, sel):
                ds[sel]
        except _READ_ERRORS:
            bad.append(sel)
    return bad


def _damage(f: h5py.File) -> list[tuple[str, str]]:
    """(path, why) of what fails in an open partial file: metadata (``damaged_metadata``, incomplete
    allowed) and stored chunks that fail to read."""
    problems = damaged_metadata(f, complete=False)
    for obj in _objects(f, problems):
        if isinstance(obj, h5py.Dataset):
            try:
                bad = damaged_chunks(obj)
            except _READ_ERRORS as e:
                problems.append((obj.name, f"it cannot be read ({_first_line(e)})"))
                continue
            if bad:
                problems.append((obj.name, f"{len(bad)} chunk(s) fail their checksum"))
    return problems


def _copy_dataset(src: h5py.Dataset, dst_group: h5py.Group, name: str) -> int:
    """Copy ``src`` to ``dst_group[name]`` with its layout and attributes (no dimension-scale bookkeeping),
    chunk by chunk: a chunk that fails to read is left unwritten (it reads as the fill value and fails
    ``intact``). Returns the number of chunks left out."""
    kwargs = {"chunks": src.chunks, "fletcher32": src.fletcher32, "maxshape": src.maxshape}
    if src.fillvalue is not None and src.dtype.kind not in "OSUV":
        kwargs["fillvalue"] = src.fillvalue
    if src.chunks is None:
        kwargs = {}
    ds = dst_group.create_dataset(name, shape=src.shape, dtype=src.dtype, **kwargs)
    left = 0
    if src.chunks is None:
        ds[()] = src[()]
    elif src.size:
        for sel in src.iter_chunks():
            if not _chunk_stored(src, sel):
                continue
            try:
                values = src[sel]
            except _READ_ERRORS:
                left += 1
                continue
            ds[sel] = values
    for key in src.attrs:
        if key not in ("DIMENSION_LIST", "REFERENCE_LIST", "CLASS", "NAME"):
            ds.attrs[key] = src.attrs[key]
    return left


def rebuild(src: h5py.File, dst: h5py.File) -> tuple[list[str], dict]:
    """Copy the verified parts of the open partial ``src`` into the new empty file ``dst``.

    Left out: every object whose metadata fails its checksum (with what is below it), a group holding
    attributes without a checksum (its finished marks are not trusted) and every chunk that fails to read
    (left unwritten: it reads as the fill value); a dimension scale with a damaged chunk is left out whole
    (it is rebuilt from the config by its writer). Dimension scales are made again and attached as they
    were. Returns the paths left out or partly left out, and {scale path: [(dataset path, axis), ...]}:
    the labels of the scales left out (``ResultsFile.coordinate`` attaches them when it writes the scale).
    """
    problems = damaged_metadata(src, complete=False)
    bad = {path for path, _ in problems}
    left = [path for path, _ in problems]
    scales, labels = {}, []
    for obj in _objects(src, problems):
        path = obj.name
        if path != "/" and any(path == b or path.startswith(b + "/") for b in bad if b != "/"):
            continue
        try:
            if isinstance(obj, h5py.Group):
                target = dst if path == "/" else dst.require_group(path)
                if path == "/" and "/" in bad:
                    continue
                for key in obj.attrs:
                    if key not in ("DIMENSION_LIST", "REFERENCE_LIST"):
                        target.attrs[key] = obj.attrs[key]
                continue
            parent, _, name = path.rpartition("/")
            group = dst.require_group(parent or "/")
            is_scale = obj.attrs.get("CLASS") == b"DIMENSION_SCALE" or obj.is_scale
            if is_scale and damaged_chunks(obj):
                bad.add(path)
                left.append(path)
                scales[path] = None
                continue
            if _copy_dataset(obj, group, name):
                left.append(path)
            if is_scale:
                scales[path] = obj.attrs.get("NAME", name.encode())
            for axis in range(obj.ndim):
                try:
                    named = [scale.name for scale in obj.dims[axis].values()]
                except _READ_ERRORS:  # references that no longer resolve: the writer labels it again
                    named = []
                labels.extend((path, axis, name) for name in named if name)
        except _READ_ERRORS:
            left.append(path)
            if path in dst:
                del dst[path]
    for path, scale_name in scales.items():
        if scale_name is not None and path in dst:
            dst[path].make_scale(scale_name.decode() if isinstance(scale_name, bytes) else str(scale_name))
    pending = {}
    for path, axis, scale in labels:
        if path not in dst:
            continue
        if scales.get(scale) is not None and scale in dst:
            dst[path].dims[axis].attach_scale(dst[scale])
        else:
            pending.setdefault(scale, []).append((path, axis))
    return sorted(set(left)), pending


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
    ``wgf_object = kind`` and ``wgf_version``; its metadata is sealed (``metadata_digest``) after
    ``fill``. The file is written under a temporary name in the same
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
            _seal(f)
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
    ``kind`` (a results file, a foreign file) or that fails to read (a checksum of its values or of its
    metadata, a missing variable):
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
        problems = damaged_metadata(f)
        if problems:
            raise SavedFileError(f"'{path}' is a damaged saved {kind} ({problems[0][0]}: {problems[0][1]})")
        yield f
    except SavedFileError:
        raise
    except _READ_ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SavedFileError(f"'{path}' is a damaged or incomplete saved {kind} ({reason})") from None
    finally:
        f.close()


# room kept free beyond each write for HDF5's metadata (flushed at each sync and when the file is closed)
WRITE_MARGIN = 256 * 1024
# below LOW_ROOM x WRITE_MARGIN free on the disk, finished runs are marked as soon as they are written
LOW_ROOM = 64


def _open_h5(path: Path, mode: str) -> h5py.File:
    """h5py's file without HDF5's own lock (the writer holds wgf's lock on the same file)."""
    return h5py.File(path, mode, locking=False)


# finished runs are marked done together at most this often (seconds, ``ResultsFile.batched``): an interrupted run
# loses at most this much of finished work, and the syncs that make a mark durable are amortised over the runs
MARK_SECONDS = 1.0


class Batch:
    """Items (finished runs) committed together: ``add`` calls ``commit(items)`` once ``seconds`` have passed since
    the last commit, ``flush`` at once (``ResultsFile.batched``). Between commits, ``add`` calls ``pending()``
    (HDF5's buffers handed to the OS, no fsync): a process killed then leaves a readable file whose uncommitted
    items are simply not marked."""

    def __init__(self, commit: Callable[[list], None], seconds: float,
                 pending: Callable[[], None] | None = None, urgent: Callable[[], bool] | None = None) -> None:
        self.commit, self.seconds, self.items, self.last = commit, seconds, [], time.monotonic()
        self.pending, self.urgent = pending, urgent

    def add(self, item: Any) -> None:
        self.items.append(item)
        if time.monotonic() - self.last >= self.seconds or (self.urgent is not None and self.urgent()):
            self.flush()
        elif self.pending is not None:
            self.pending()

    def flush(self) -> None:
        if self.items:
            self.commit(self.items)
            self.items = []
        self.last = time.monotonic()


class ResultsFile:
    """Context manager around an HDF5 results file being written.

    On normal exit the file is sealed (``seal``), closed and moved to its final name; on an exception
    it is closed and left as ``*.partial``. ``lock``: an ``OutputLock`` of ``path`` already held by the
    caller (kept held on exit), else one is taken here and released on exit.
    """

    def __init__(self, path: PathLike, config_text: str = "", *, resume: bool = False,
                 lock: OutputLock | None = None) -> None:
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.file = None
        self._claim = None  # descriptor holding the lock of the partial file itself
        self._abandoned = False
        self._labels = {}  # labels of dimension scales left out of a rebuilt partial, attached when written
        if lock is not None and lock.path != self.path:
            raise ValueError(f"the lock of '{lock.path}' does not lock '{self.path}'")
        self._own_lock = lock is None
        self._lock = _acquire(self.path) if lock is None else lock
        try:
            self._open(config_text, resume)
        except BaseException:
            self._close_file()
            self._release()
            raise

    def _release(self):
        if self._claim is not None:
            os.close(self._claim)
            self._claim = None
        if self._lock is not None and self._own_lock:
            self._lock.release()
        self._lock = None

    def _close_file(self):
        if self.file is not None:
            try:
                self.file.close()
            except _READ_ERRORS:
                pass
            self.file = None

    def _take(self, path: Path) -> None:
        """Hold the lock of the partial file ``path`` itself (created empty if missing) before HDF5 opens it:
        a writer that lost the sidecar lock (deleted from under it) still holds this one."""
        if self._claim is not None and _same_file(self._claim, path):
            return
        fd = _flock(path, self.path)
        if self._claim is not None:
            os.close(self._claim)
        self._claim = fd

    def _open(self, config_text, resume):
        if self.tmp.exists() or resume:
            fd = _flock(self.tmp, self.path, create=False)  # another writer's partial is never opened
            if fd is not None:
                self._claim = fd
        if resume and self.tmp.exists():
            self._resume(config_text)
        if self.file is None:
            self._take(self.tmp)
            self.file = _open_h5(self.tmp, "w")
            self.file.attrs["wgf_version"] = __version__
            self.file.attrs["config"] = config_text
            for key, value in provenance().items():
                self.file.attrs[key] = value
        self.file.attrs["started"] = _now()  # of this (possibly resumed) run
        self.seal()

    def _set_aside(self, why: str) -> None:
        kept = self.tmp.with_name(self.tmp.name + ".damaged")
        os.replace(self.tmp, kept)
        log.warning("'%s' %s: kept as '%s', starting over", self.tmp, why, kept)

    def _resume(self, config_text: str) -> None:
        """Open the partial file of a resumed run: verified whole, used as it is when nothing fails, rebuilt
        from its verified parts when something does (``rebuild``), set aside when its header is lost."""
        try:
            old = _open_h5(self.tmp, "r")
        except _READ_ERRORS:
            self._set_aside("cannot be opened (killed during a write, or damaged)")
            return
        try:
            stored = old.attrs.get(METADATA_CHECKSUM)
            header_ok = stored is None or stored == metadata_digest(old)  # None: a file without checksums
            written = old.attrs.get("config") if "config" in old.attrs else None
            if written is None:
                old.close()
                log.warning("'%s' has no header (killed as it was created?): starting over", self.tmp)
                return
            if written != config_text:
                old.close()
                if header_ok:
                    raise ResumeError(f"'{self.tmp}' was written by a different config: cannot resume it")
                self._set_aside("has a damaged header (its config fails its checksum)")
                return
            problems = _damage(old)
        except ResumeError:
            raise
        except _READ_ERRORS as e:
            problems = [("/", f"it cannot be read ({_first_line(e)})")]
        if not problems:
            old.close()
            try:
                self.file = _open_h5(self.tmp, "r+")
            except _READ_ERRORS:
                self._set_aside("cannot be opened for writing")
                return
            log.info("resuming '%s'", self.tmp)
            return
        self._rebuild(old, problems, config_text)

    def _rebuild(self, old: h5py.File, problems: list, config_text: str) -> None:
        new_path = self.tmp.with_name(self.tmp.name + ".rebuild")
        what = f"{problems[0][0]}: {problems[0][1]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        claim = _flock(new_path, self.path)
        try:
            with _open_h5(new_path, "w") as new:
                left, self._labels = rebuild(old, new)
                for key, value in {"wgf_version": __version__, "config": config_text, **provenance()}.items():
                    if key not in new.attrs:  # a header that failed its checksum is written again
                        new.attrs[key] = value
                _seal(new)
                new.flush()
                os.fsync(claim)
            old.close()
            os.replace(new_path, self.tmp)
        except BaseException:
            os.close(claim)
            try:
                old.close()
            except _READ_ERRORS:
                pass
            try:
                os.unlink(new_path)
            except OSError:
                pass
            raise
        if self._claim is not None:
            os.close(self._claim)
        self._claim = claim
        self.file = _open_h5(self.tmp, "r+")
        named = ", ".join(left[:4]) + (f" and {len(left) - 4} more" if len(left) > 4 else "")
        log.warning("'%s' is damaged (%s): rebuilt from its verified parts; left out, to be computed or written "
                    "again: %s", self.tmp, what, named)

    def low_on_room(self) -> bool:
        """Whether the disk has less than ``LOW_ROOM`` x WRITE_MARGIN free: then a batch commits its marks at once, so
        a run the disk stops keeps every finished run marked (``batched``)."""
        try:
            st = os.statvfs(self.tmp.parent)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize < LOW_ROOM * WRITE_MARGIN

    def room(self, nbytes: int = 0) -> None:
        """Raise OSError (ENOSPC, or EFBIG for the process's file size limit) naming the partial file before a
        write of ``nbytes`` that the disk cannot take with ``WRITE_MARGIN`` to spare: the run stops with its
        file intact and closable, instead of HDF5 failing halfway through a write (after which the file
        cannot be used)."""
        need = int(nbytes) + WRITE_MARGIN
        try:
            st = os.statvfs(self.tmp.parent)
        except OSError:
            return
        free = st.f_bavail * st.f_frsize
        if free < need:
            raise NoRoomError(errno.ENOSPC, f"No space left on device ({free} bytes free, a write needs {need})",
                              str(self.tmp))
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and self._claim is not None:
            size = os.fstat(self._claim).st_size
            if size + need > limit:
                raise NoRoomError(errno.EFBIG, f"File too large (the file size limit is {limit} bytes)",
                                  str(self.tmp))

    def _abandon(self) -> None:
        """Point HDF5's descriptor of the file at /dev/null: nothing more reaches the disk
        (``_close_after_write_failure``)."""
        if self.file is None or self._abandoned:
            return
        try:
            fd = self.file.id.get_vfd_handle()
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, fd)
            finally:
                os.close(null)
            self._abandoned = True
        except (OSError, ValueError, TypeError, RuntimeError):
            pass

    @contextmanager
    def _writing(self):
        """HDF5's failures to write (raised by h5py as RuntimeError or OSError) as the OSError they come from,
        the file abandoned at once (``_abandon``)."""
        try:
            yield
        except NoRoomError:
            raise
        except (RuntimeError, OSError) as e:
            self._abandon()
            if isinstance(e, OSError):
                raise
            found = re.search(r"errno = (\d+)", str(e))
            code = int(found.group(1)) if found else errno.EIO
            raise OSError(code, f"{os.strerror(code)} (HDF5: {_first_line(e)})", str(self.tmp)) from None

    @property
    def abandoned(self) -> bool:
        """Whether a write failed and HDF5's descriptor of the file was pointed at /dev/null (``_abandon``)."""
        return self._abandoned

    def seal(self, obj: h5py.Group | None = None) -> None:
        """Write the metadata checksum of every group and dataset (of ``obj`` and below it; default: the whole
        file) whose metadata changed (``metadata_digest``). Done when the file is opened and closed, by
        ``mark_done`` for what it marks, and by the writers once their layout is set."""
        with self._writing():
            _seal(self.file if obj is None else obj)

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        try:
            if exc_type is None:
                self.room()
                self.file.attrs["finished"] = _now()
                self.seal()
                self.file.close()
                self.file = None
                if self._claim is not None and not _same_file(self._claim, self.tmp):
                    raise OSError(errno.ENOENT, "the partial results file was removed or replaced during the run",
                                  str(self.tmp))
                os.replace(self.tmp, self.path)
            elif issubclass(exc_type, OSError) and not issubclass(exc_type, NoRoomError):
                self._close_after_write_failure(tb)
            else:
                try:
                    self.seal()
                except _READ_ERRORS:
                    pass
                self._close_file()
        finally:
            self._close_file()
            self._release()
        return False

    def _close_after_write_failure(self, tb) -> None:
        """Close a file whose last write failed (the disk filled up) without writing to it again: HDF5's
        descriptor is pointed at /dev/null first, so that the writes HDF5 makes as it closes succeed and go
        nowhere (left to fail, they leave the library in a state that crashes the process); the file on the
        disk stays as the failure left it, and a resumed run verifies it and rebuilds it from its verified
        parts. The frames of the failure let go of their datasets first."""
        hook = sys.unraisablehook
        sys.unraisablehook = lambda *_: None
        try:
            self._abandon()
            if tb is not None:
                traceback.clear_frames(tb)
            gc.collect()
            self._close_file()
            gc.collect()
        finally:
            sys.unraisablehook = hook

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
        try:
            same = (isinstance(old, h5py.Dataset) and old.is_scale and old.dtype == values.dtype
                    and old.shape == values.shape and np.array_equal(_stored_values(old), values))
        except _READ_ERRORS:  # a damaged chunk: written again
            same = False
        if same:
            return old  # a resumed file: variables already labelled with it keep their labels
        ds = self.write(name, values, attrs={"long_name": long_name, "units": units}, dtype=dtype)
        ds.make_scale(name.rsplit("/", 1)[-1])
        for path, axis in self._labels.pop(ds.name, ()):  # labels of a scale left out of a rebuilt partial
            if path in self.file:
                self.file[path].dims[axis].attach_scale(ds)
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
        self.room(data.nbytes)
        ds = self.file.create_dataset(name, data=data, **_checksummed(data.shape, data.dtype))
        for k, v in (attrs or {}).items():
            ds.attrs[k] = v
        return ds

    def flush(self) -> None:
        """Hand HDF5's buffers to the OS (no ``fsync``): the file on the disk is consistent should this process die
        (a power loss needs ``sync``)."""
        self.room()
        with self._writing():
            self.file.flush()

    def sync(self) -> None:
        """Flush HDF5's buffers and ``fsync`` the file: what was written is on the disk."""
        self.flush()
        try:
            os.fsync(self.file.id.get_vfd_handle())
        except (OSError, ValueError, TypeError):  # a driver without a file descriptor
            pass

    @contextmanager
    def batched(self, commit: Callable[[list], None], seconds: float | None = None) -> Iterator[Batch]:
        """A ``Batch`` calling ``commit(items)`` at most once every ``seconds`` (default ``MARK_SECONDS``) and at
        the end; on a failure or an interrupt the items added before it are committed before it propagates,
        unless a write failed (``abandoned``) or the commit itself fails."""
        batch = Batch(commit, MARK_SECONDS if seconds is None else seconds, pending=self.flush, urgent=self.low_on_room)
        try:
            yield batch
        except BaseException:
            if not self._abandoned:
                try:
                    batch.flush()
                except (OSError, RuntimeError):
                    pass
            raise
        batch.flush()

    def mark_done(self, obj: h5py.Group | h5py.Dataset, key: str = "done") -> None:
        """Set ``obj.attrs[key] = 1`` once everything written so far is on the disk, and sync the mark
        (sealed with the rest)."""
        self.mark_done_many([(obj, key)])

    def mark_done_many(self, marks: Iterable[tuple[h5py.Group | h5py.Dataset, str]]) -> None:
        """``mark_done`` for several (obj, key) at once with one pair of syncs: the cost of the syncs and seals
        amortised over the runs of a study or sweep (``wgf.runner.run_particles`` marks its finished runs so)."""
        marks = list(marks)
        if not marks:
            return
        objs = {obj.name: obj for obj, _ in marks}
        for obj in objs.values():  # what was set on them before the marks (a run's eps) is sealed with the data
            self.seal(obj)
        self.sync()
        for obj, key in marks:
            obj.attrs[key] = 1
        for obj in objs.values():
            self.seal(obj)
        self.sync()

    def unmark(self, obj: h5py.Group | h5py.Dataset, key: str = "done") -> None:
        """Remove a finished mark (its data failed the check and will be computed again)."""
        if key in obj.attrs:
            del obj.attrs[key]
            self.seal(obj)


def _seal(top: h5py.Group) -> None:
    for obj in _objects(top):
        digest = metadata_digest(obj)
        if obj.attrs.get(METADATA_CHECKSUM) != digest:
            obj.attrs[METADATA_CHECKSUM] = digest
