"""Output folders evalkit owns (evalkit.files.output_folder) and the run's temporary folder
(evalkit.files.run_temp): only evalkit's unchanged files are ever removed, a process killed
while publishing leaves the old set or the new one, and its debris is cleaned up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.files.output_folder import (
    MANIFEST,
    clean_stale,
    publish_folder,
    replace_folder,
    write_file,
)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _publish(target: Path, files: dict[str, str], **kw) -> None:
    with replace_folder(target, **kw) as staging:
        for rel, text in files.items():
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).write_text(text)


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def test_replacing_removes_only_the_listed_files(tmp_path):
    """A new set replaces the old: files of the old set that are not in the new one go,
    the manifest lists exactly the new set, and nothing is left beside the folder."""
    target = tmp_path / "out"
    _publish(target, {"a.txt": "1", "sub/b.txt": "2"})
    _publish(target, {"a.txt": "one", "c.txt": "3"})
    assert _tree(target) == {"a.txt": "one", "c.txt": "3"}
    listed = json.loads((target / MANIFEST).read_text())["files"]
    assert sorted(listed) == ["a.txt", "c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_users_file_or_an_edit_stops_the_replacement_unless_forced(tmp_path):
    """A file the manifest does not list, or an edited one, is named and nothing changes;
    with force the user's file (even in a sub-folder) is kept and only evalkit's names
    are overwritten."""
    target = tmp_path / "out"
    _publish(target, {"a.txt": "1", "sub/b.txt": "2"})
    (target / "sub" / "mine.txt").write_text("mine")
    (target / "a.txt").write_text("edited")
    before = _tree(target)
    with pytest.raises(EvalkitError, match=r"a\.txt, sub/mine\.txt.*--force"):
        _publish(target, {"a.txt": "new"})
    assert _tree(target) == before
    _publish(target, {"a.txt": "new"}, force=True)
    assert _tree(target) == {"a.txt": "new", "sub/mine.txt": "mine"}


def test_a_folder_without_manifest_is_not_replaced(tmp_path):
    """A folder from an earlier evalkit (no manifest) gets one line saying so."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "results.json").write_text("{}")
    with pytest.raises(EvalkitError, match=f"no {MANIFEST}") as info:
        _publish(target, {"results.json": "[]"})
    assert "\n" not in info.value.one_line()
    assert (target / "results.json").read_text() == "{}"


def test_a_byte_identical_file_is_not_in_the_way(tmp_path):
    """A file identical to its replacement (the new set's hashes known up front, as for
    synth) is evalkit's, manifest or not."""
    import hashlib

    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("same")
    new = {"a.txt": hashlib.sha256(b"same").hexdigest(),
           "b.txt": hashlib.sha256(b"new").hexdigest()}
    _publish(target, {"a.txt": "same", "b.txt": "new"}, new=new)
    assert _tree(target) == {"a.txt": "same", "b.txt": "new"}


def test_a_process_killed_between_the_renames_gets_the_old_set_back(tmp_path):
    """Killed after moving the old set aside and before moving the new one in: the next
    run puts the old set back and removes the dead process's staging folder."""
    target = tmp_path / "out"
    _publish(target, {"a.txt": "old"})
    pid = _dead_pid()
    os.replace(target, tmp_path / f".evalkit-old-out-{pid}-0123abcd")
    staging = tmp_path / f".evalkit-staging-out-{pid}-89abcdef"
    staging.mkdir()
    (staging / "a.txt").write_text("half")
    clean_stale(tmp_path)
    assert _tree(target) == {"a.txt": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_process_killed_after_the_swap_leaves_no_debris_and_no_loss(tmp_path):
    """Killed after the new set is in place but before the old one was removed (a user's
    file still in it): the next run moves the user's file back and removes the rest."""
    target = tmp_path / "out"
    _publish(target, {"a.txt": "old", "gone.txt": "x"})
    (target / "mine.txt").write_text("mine")
    pid = _dead_pid()
    old = tmp_path / f".evalkit-old-out-{pid}-0123abcd"
    os.replace(target, old)
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.txt").write_text("new")
    publish_folder(staging, target)  # the new set in place; then the process is killed
    clean_stale(tmp_path)
    assert _tree(target) == {"a.txt": "new", "mine.txt": "mine"}
    assert not old.exists()


def test_a_live_processes_staging_folder_is_left_alone(tmp_path):
    """The debris of a process that is still running is not touched."""
    staging = tmp_path / f".evalkit-staging-out-{os.getpid()}-0123abcd"
    staging.mkdir()
    (staging / "a.txt").write_text("busy")
    part = tmp_path / f".report.html.evalkit-{os.getpid()}-0123abcd.part"
    part.write_text("busy")
    dead = tmp_path / f".report.html.evalkit-{_dead_pid()}-0123abcd.part"
    dead.write_text("half")
    clean_stale(tmp_path)
    assert (staging / "a.txt").read_text() == "busy" and part.exists() and not dead.exists()


def test_write_file_overwrites_only_its_own_unchanged_file(tmp_path):
    """One file in a shared folder: new or evalkit's unchanged file is written (and
    listed); identical content writes nothing; a user's file is refused unless forced."""
    write_file(tmp_path, "index.json", b"1")
    write_file(tmp_path, "index.json", b"2")
    assert (tmp_path / "index.json").read_bytes() == b"2"
    (tmp_path / "README.md").write_bytes(b"mine")
    write_file(tmp_path, "README.md", b"mine")  # identical: nothing to do
    with pytest.raises(EvalkitError, match="README.md.*--force"):
        write_file(tmp_path, "README.md", b"evalkit's")
    (tmp_path / "index.json").write_bytes(b"edited")
    with pytest.raises(EvalkitError, match="index.json"):
        write_file(tmp_path, "index.json", b"3")
    assert (tmp_path / "index.json").read_bytes() == b"edited"
    write_file(tmp_path, "README.md", b"evalkit's", force=True)
    assert (tmp_path / "README.md").read_bytes() == b"evalkit's"
    assert sorted(json.loads((tmp_path / MANIFEST).read_text())["files"]) == [
        "README.md", "index.json"]


def test_temporary_folders_live_in_one_run_folder_cleaned_after_a_dead_run(tmp_path,
                                                                         monkeypatch):
    """temp_dir makes folders inside $TMPDIR/evalkit-run-<pid>-<random>; a run folder
    whose process is gone is removed by the next run, a live one is kept."""
    import tempfile

    import evalkit.files.run_temp as run_temp

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # setenv first, so that the variable run_dir sets below is undone after the test (a
    # later kernel in this process would otherwise inherit this test's long tmp_path, too
    # long for a local socket)
    monkeypatch.setenv(run_temp.RUN_DIR_ENV, "")
    monkeypatch.delenv(run_temp.RUN_DIR_ENV)
    monkeypatch.setattr(run_temp, "_STATE", {})
    dead = tmp_path / f"evalkit-run-{_dead_pid()}-0123abcd"
    (dead / "evalkit-kernel-x").mkdir(parents=True)
    (dead / "evalkit-kernel-x" / "kernel.json").write_text("{}")
    live = tmp_path / "evalkit-run-1-89abcdef"  # pid 1 is always running
    live.mkdir()
    folder = run_temp.temp_dir("evalkit-render-")
    assert folder.parent.parent == tmp_path and folder.parent.name.startswith(
        f"evalkit-run-{os.getpid()}-")
    assert not dead.exists() and live.exists()
    assert os.environ[run_temp.RUN_DIR_ENV] == str(folder.parent)


def test_a_nested_output_set_is_kept_when_its_parent_is_replaced(tmp_path):
    """demo writes a scheme's analysis (its own set) inside the scheme's report folder:
    replacing the report keeps the analysis as it is, and it is not in the way."""
    report = tmp_path / "scheme"
    _publish(report, {"report.html": "v1"})
    _publish(report / "analysis", {"results.json": "{}"})
    _publish(report, {"report.html": "v2"})
    assert _tree(report) == {"report.html": "v2", "analysis/results.json": "{}"}
    assert (report / "analysis" / MANIFEST).is_file()


def test_empty_staging_folders_of_earlier_versions_are_removed(tmp_path):
    """An earlier evalkit killed during `run --out out` left an empty `.out-XXXXXXXX`
    that nothing cleaned: the next run removes it, but never one that holds a file."""
    empty = tmp_path / ".out-abc12_x9"
    empty.mkdir()
    full = tmp_path / ".out-zz99yy88"
    full.mkdir()
    (full / "kept.txt").write_text("kept")
    _publish(tmp_path / "out", {"a.txt": "1"})
    assert not empty.exists() and (full / "kept.txt").read_text() == "kept"
