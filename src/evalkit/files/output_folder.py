"""Output folders evalkit owns: it replaces or deletes only the files it wrote.

A folder is evalkit's when it holds :data:`MANIFEST`, which lists the files evalkit
wrote there and their SHA-256 hashes. Replacing the folder removes a file only when the
manifest lists it and it is unchanged, or when it is byte-identical to the file that
replaces it; a sub-folder with a manifest of its own is a separate set and is kept. Any
other file (the user's, or one of evalkit's that was edited) stops the replacement with
an :class:`~evalkit.errors.EvalkitError` naming it, unless ``force``; with ``force`` the
other files are kept and only files with the names evalkit writes are overwritten.
Nothing evalkit did not write is ever deleted.

A new output set is built in a staging folder beside the target and published by
renaming folders (:class:`replace_folder`); a run killed half-way leaves the old set or
the new one, and the debris of a dead process (its staging folder, or the old set it
was about to remove) is cleaned up, or the old set put back, by the next run
(:func:`clean_stale`).

Examples
--------
>>> from pathlib import Path
>>> with replace_folder(Path("out/scheme")) as staging:  # doctest: +SKIP
...     (staging / "results.json").write_text("{}")
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from evalkit.errors import EvalkitError

__all__ = ["MANIFEST", "replace_folder", "check_folder", "write_file", "check_file",
           "check_replace", "record_files",
           "publish_folder", "folder_files", "nested_sets",
           "read_manifest", "clean_stale", "pid_alive", "sha256"]

#: The file that makes a folder evalkit's: the files evalkit wrote there, with hashes.
MANIFEST = ".evalkit-manifest.json"
_SCHEMA = "evalkit-manifest/1"
_STALE = re.compile(r"^\.evalkit-(?P<kind>staging|old)-(?P<name>.+)-(?P<pid>\d+)-[0-9a-f]{8}$")
_PART = re.compile(r"^\..+\.evalkit-(?P<pid>\d+)-[0-9a-f]{8}\.part$")


def pid_alive(pid: int) -> bool:
    """True if a process with this id is running (or if that cannot be told)."""
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        pass
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) would end it on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folder_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (symbolic links included, not followed), as POSIX
    paths relative to it, the manifest left out; sub-folders that are output sets of
    their own (:func:`nested_sets`) are left out too."""
    found = []
    for top, dirs, files in os.walk(folder):
        rel = Path(top).relative_to(folder)
        dirs[:] = [d for d in dirs if not (Path(top) / d / MANIFEST).is_file()]
        names = files + [d for d in dirs if (Path(top) / d).is_symlink()]
        found += [(rel / n).as_posix() for n in names]
    return sorted(f for f in found if f != MANIFEST)


def nested_sets(folder: Path) -> list[str]:
    """Sub-folders of ``folder`` with a manifest of their own: output sets evalkit wrote
    separately (``demo`` writes a scheme's analysis inside its report folder). Replacing
    the folder keeps them as they are."""
    found = []
    for top, dirs, _ in os.walk(folder):
        for d in list(dirs):
            path = Path(top) / d
            if not path.is_symlink() and (path / MANIFEST).is_file():
                found.append(path.relative_to(folder).as_posix())
                dirs.remove(d)
    return sorted(found)


def read_manifest(folder: Path) -> dict[str, str] | None:
    """The files the manifest in ``folder`` lists, with their hashes; None if it has none
    (or it is not one of evalkit's)."""
    path = Path(folder) / MANIFEST
    if not path.is_file() or path.is_symlink():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = doc.get("files") if isinstance(doc, dict) and doc.get("schema") == _SCHEMA else None
    if not isinstance(files, dict):
        return None
    return {str(k): str(v) for k, v in files.items()}


def _write_manifest(folder: Path, files: dict[str, str]) -> None:
    text = json.dumps({"schema": _SCHEMA, "files": dict(sorted(files.items()))}, indent=2)
    _atomic_write(folder / MANIFEST, (text + "\n").encode("utf-8"))


def _atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.evalkit-{os.getpid()}-{secrets.token_hex(4)}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _foreign(folder: Path, new: dict[str, str] | None) -> list[str]:
    """Files in ``folder`` that evalkit may not remove: not listed (unchanged) in its
    manifest, and not byte-identical to the file of the same name in ``new``."""
    listed = read_manifest(folder) or {}
    new = new or {}
    out = []
    for rel in folder_files(folder):
        path = folder / rel
        digest = sha256(path) if _is_file(path) else None
        if digest is None or digest not in (listed.get(rel), new.get(rel)):
            out.append(rel)
    return out


def _refusal(target: Path, foreign: list[str], what: str) -> EvalkitError:
    names = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                      else "")
    legacy = ("" if read_manifest(target) is not None else
              f"; it has no {MANIFEST}, so evalkit cannot tell its files from yours (an "
              "earlier evalkit wrote none)")
    return EvalkitError(
        f"not an evalkit {what}: it holds {names}, which evalkit did not write or which "
        f"changed since, so evalkit will not replace it{legacy}", file=str(target),
        fix="move the file(s) out, choose another folder, or pass --force (keeps every file "
            "evalkit did not write; overwrites only files with the names evalkit writes)")


def check_folder(target: str | Path, *, force: bool = False,
                 new: dict[str, str] | None = None, what: str = "output folder") -> None:
    """Raise unless evalkit may replace ``target`` with a new set of files.

    Debris that dead evalkit processes left inside ``target`` is cleaned up first
    (:func:`clean_stale`).

    Parameters
    ----------
    target
        The folder (it need not exist).
    force
        Allow it even though the folder holds files evalkit did not write (they are kept).
    new
        The new files' hashes by relative path, when known: a file byte-identical to its
        replacement is never in the way.
    what
        What the folder is, for the message.

    Raises
    ------
    EvalkitError
        If ``target`` is a file, or (without ``force``) holds a file that is not evalkit's
        unchanged output.
    """
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise EvalkitError(f"the {what} is a file or a link, not a folder, so evalkit will "
                           "not replace it", file=str(target), fix="choose another folder")
    if not target.exists():
        return
    clean_stale(target)  # debris of dead evalkit processes inside it is not in the way
    if force:
        return
    foreign = _foreign(target, new)
    if foreign:
        raise _refusal(target, foreign, what)


def _hashes(folder: Path) -> dict[str, str]:
    return {rel: sha256(folder / rel) for rel in folder_files(folder)}


def _side(target: Path, kind: str) -> Path:
    return target.with_name(f".evalkit-{kind}-{target.name}-{os.getpid()}-"
                            f"{secrets.token_hex(4)}")


def _prune(folder: Path) -> None:
    """Remove empty folders under and including ``folder`` (no file is removed)."""
    for top, dirs, _ in os.walk(folder, topdown=False):
        for d in dirs:
            path = Path(top) / d
            if not path.is_symlink():
                try:
                    path.rmdir()
                except OSError:
                    pass
    try:
        folder.rmdir()
    except OSError:
        pass


def _remove_listed(folder: Path, removable: dict[str, str]) -> None:
    """Delete the files whose current hash is the one given, then the manifest (last, so
    that a process killed on the way leaves a folder still described by it), then empty
    folders."""
    for rel, digest in removable.items():
        path = folder / rel
        if _is_file(path) and sha256(path) == digest:
            path.unlink()
    (folder / MANIFEST).unlink(missing_ok=True)
    _prune(folder)


def publish_folder(staging: Path, target: Path, *, force: bool = False,
                   what: str = "output folder") -> Path:
    """Publish a fully written ``staging`` folder as ``target``, keeping the user's files.

    The staging folder gets the manifest, then takes the target's place by renames; the
    old set's unchanged files are removed; with ``force``, files evalkit did not write
    (and whose names it does not write) are moved into the new folder.

    Sub-folders with a manifest of their own (:func:`nested_sets`) are moved into the
    new folder as they are.

    Raises
    ------
    EvalkitError
        As :func:`check_folder`; ``staging`` is left for the caller to remove.
    """
    staging, target = Path(staging), Path(target)
    new = _hashes(staging)
    _write_manifest(staging, new)
    check_folder(target, force=force, new=new, what=what)
    if not target.exists():
        os.replace(staging, target)
        return target
    listed = read_manifest(target) or {}
    keep, removable = [], {}
    for rel in folder_files(target):
        path = target / rel
        digest = sha256(path) if _is_file(path) else None
        if digest is not None and (digest in (listed.get(rel), new.get(rel)) or rel in new):
            removable[rel] = digest  # evalkit's unchanged, identical, or overwritten by force
        else:
            keep.append(rel)
    keep += nested_sets(target)
    old = _side(target, "old")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(old, target)
        raise
    _restore_kept(old, target, keep)
    _remove_listed(old, removable)
    return target


def _restore_kept(old: Path, target: Path, keep: list[str]) -> None:
    for rel in keep:
        dest = target / rel
        if dest.exists() or dest.is_symlink():
            continue  # left in the old folder rather than overwrite anything
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(old / rel, dest)


def clean_stale(parent: str | Path, name: str | None = None) -> None:
    """Clean up after evalkit processes that died while publishing into ``parent``.

    A dead process's staging folder (only evalkit's files) is removed; its old set is put
    back when the target is missing (killed between the two renames), otherwise its
    unchanged listed files are removed and any other file is moved back into the target.
    Its half-written ``.part`` files are removed. Given the ``name`` of a target, empty
    staging folders that earlier evalkit versions left beside it (``.<name>-XXXXXXXX``)
    are removed too. Live processes' files are left alone.
    """
    parent = Path(parent)
    if not parent.is_dir():
        return
    legacy = re.compile(rf"^\.{re.escape(name)}-[a-z0-9_]{{8}}$") if name else None
    for entry in parent.iterdir():
        m = _STALE.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            if pid_alive(int(m["pid"])):
                continue
            if m["kind"] == "staging":
                shutil.rmtree(entry, ignore_errors=True)
                continue
            target = parent / m["name"]
            if not target.exists() and not target.is_symlink():
                os.replace(entry, target)
                continue
            listed = read_manifest(entry) or {}
            keep = [rel for rel in folder_files(entry)
                    if not (_is_file(entry / rel) and sha256(entry / rel) == listed.get(rel))]
            keep += nested_sets(entry)
            if target.is_dir():
                _restore_kept(entry, target, keep)
            _remove_listed(entry, listed)
        elif (m := _PART.match(entry.name)) and _is_file(entry):
            if not pid_alive(int(m["pid"])):
                entry.unlink(missing_ok=True)
        elif legacy and legacy.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            try:
                entry.rmdir()  # only when empty: nothing is deleted
            except OSError:
                pass


class replace_folder:
    """Build a new set of files aside and put it in place of ``target`` whole.

    Checks on entry that the target may be replaced (so that a refusal comes before any
    work), yields a staging folder beside it, and publishes that folder on a clean exit
    (:func:`publish_folder`); on an exception the staging folder is removed and the target
    is untouched.

    Parameters
    ----------
    target
        The output folder.
    force
        Replace it even if it holds files evalkit did not write (they are kept).
    new
        The new files' hashes, if known before the work (see :func:`check_folder`).
    what
        What the folder is, for messages.
    """

    def __init__(self, target: str | Path, *, force: bool = False,
                 new: dict[str, str] | None = None, what: str = "output folder"):
        self.target = Path(target)
        self.force = force
        self.what = what
        self.target.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(self.target.parent, self.target.name)
        check_folder(self.target, force=force, new=new, what=what)

    def __enter__(self) -> Path:
        self.staging = _side(self.target, "staging")
        self.staging.mkdir()
        return self.staging

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                publish_folder(self.staging, self.target, force=self.force, what=self.what)
        finally:
            if self.staging.exists():
                shutil.rmtree(self.staging, ignore_errors=True)
        return False


def write_file(folder: str | Path, name: str, data: bytes, *, force: bool = False) -> Path:
    """Write one file into a folder that may hold other things, atomically.

    The file is written when it is new, listed unchanged in the folder's manifest, or
    ``force``; the manifest then lists it. Byte-identical content is left untouched (and
    no manifest is written for it).

    Raises
    ------
    EvalkitError
        If a different file of that name is there that evalkit did not write (or that was
        changed since), without ``force``.
    """
    folder = Path(folder)
    target = folder / name
    if not check_file(folder, name, data, force=force):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale(folder)
    _atomic_write(target, data)
    listed = read_manifest(folder) or {}
    listed[name] = hashlib.sha256(data).hexdigest()
    _write_manifest(folder, listed)
    return target


def check_file(folder: str | Path, name: str, data: bytes, *, force: bool = False) -> bool:
    """Whether :func:`write_file` has anything to write (False: the file is already
    byte-identical).

    Raises
    ------
    EvalkitError
        As :func:`write_file`.
    """
    target = Path(folder) / name
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise EvalkitError("is a folder or a link where evalkit would write a file",
                           file=str(target), fix="move it, or choose another folder")
    if not target.exists():
        return True
    if target.read_bytes() == data:
        return False
    listed = read_manifest(Path(folder)) or {}
    if not force and sha256(target) != listed.get(name):
        raise EvalkitError(
            "this file is not one evalkit wrote (or it was changed since), so evalkit will "
            "not overwrite it", file=str(target),
            fix="move it out, choose another folder, or pass --force to overwrite it")
    return True


def check_replace(folder: str | Path, names, *, force: bool = False) -> None:
    """Refuse, before any work, to replace a file in ``folder`` that evalkit did not write.

    For files written beside a user's own (``evalkit aggregate --out panel.parquet``): a
    name that exists must be listed unchanged in the folder's manifest, unless ``force``.

    Raises
    ------
    EvalkitError
        Naming the first such file, with the fix.
    """
    folder = Path(folder)
    listed = read_manifest(folder) or {}
    for name in names:
        target = folder / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise EvalkitError("is a folder or a link where evalkit would write a file",
                               file=str(target), fix="move it, or choose another file name")
        if target.exists() and not force and sha256(target) != listed.get(name):
            raise EvalkitError(
                "this file is not one evalkit wrote (or it was changed since), so evalkit "
                "will not overwrite it", file=str(target),
                fix="move it out, choose another file name, or pass --force to overwrite it")


def record_files(folder: str | Path, names) -> None:
    """List files evalkit has just written in ``folder``'s manifest (see
    :func:`check_replace`)."""
    folder = Path(folder)
    listed = read_manifest(folder) or {}
    listed.update({name: sha256(folder / name) for name in names})
    _write_manifest(folder, listed)
