"""The run folder: refusing to destroy a run, one writer at a time, whole epochs, clean-up."""

import json
import os
import subprocess
import sys

import pytest

from nfp_lib.config import PRESETS
from nfp_lib.runs import RunFolder, committed_epoch, latest_dir

CONFIG = PRESETS["tiny"]


def _write(names: dict[str, str]):
    """A backend's writer: the files ``names`` maps to their contents."""

    def write(folder):
        for name, text in names.items():
            (folder / name).write_text(text)

    return write


def _started(out, epochs: int = 1):
    """A run with ``epochs`` committed epochs, its lock released."""
    with RunFolder.open(out, CONFIG) as run:
        for epoch in range(1, epochs + 1):
            run.commit_epoch(epoch, _write({"model.pt": f"weights {epoch}"}))
    return out


def test_an_epoch_becomes_visible_whole_and_the_top_level_follows(tmp_path):
    with RunFolder.open(tmp_path, CONFIG) as run:
        assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # no run before an epoch
        assert committed_epoch(tmp_path) == 0 and latest_dir(tmp_path) is None
        run.commit_epoch(1, _write({"model.pt": "w1", "best.pt": "b1", "history.json": "h1"}))
        assert json.loads((tmp_path / "config.json").read_text()) == CONFIG.to_dict()
        run.commit_epoch(2, _write({"model.pt": "w2", "history.json": "h2"}), keep=("best.pt",))
    assert committed_epoch(tmp_path) == 2
    assert sorted(p.name for p in (tmp_path / "epochs").iterdir()) == ["2"]  # older ones go
    folder = latest_dir(tmp_path)
    assert {p.name: p.read_text() for p in folder.iterdir() if p.suffix != ".json"} == {
        "model.pt": "w2",
        "best.pt": "b1",  # carried over: epoch 2 did not improve
    }
    for name in ("model.pt", "best.pt", "history.json", "config.json"):
        assert (tmp_path / name).read_text() == (folder / name).read_text()
    (tmp_path / "model.pt").write_text("a user's own model")  # written over in place
    assert (folder / "model.pt").read_text() == "w2"  # the committed epoch keeps its own
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_a_finished_run_is_refused_and_left_untouched(tmp_path):
    out = _started(tmp_path / "run")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = CONFIG.replace(train={"epochs": 1})
    with pytest.raises(ValueError, match="holds a run .*--resume .*--overwrite"):
        RunFolder.open(out, other)
    assert {p: p.read_bytes() for p in before} == before


def test_overwrite_moves_the_old_run_aside(tmp_path):
    out = _started(tmp_path / "run")
    with RunFolder.open(out, CONFIG, overwrite=True):
        assert committed_epoch(out) == 0
    (aside,) = tmp_path.glob("run.old-*")
    assert committed_epoch(aside) == 1 and (aside / "model.pt").read_text() == "weights 1"


def test_a_second_writer_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path):
    with RunFolder.open(tmp_path, CONFIG):
        with pytest.raises(ValueError, match="another training .* is writing"):
            RunFolder.open(tmp_path, CONFIG)
        child = subprocess.run(
            [sys.executable, "-c", "from nfp_lib.runs import *; from nfp_lib.config import *;"
             f"RunFolder.open({str(tmp_path)!r}, PRESETS['tiny'])"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert child.returncode == 1 and "another training" in child.stderr
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    (tmp_path / ".lock").write_text(dead)  # left by a process that no longer runs
    with RunFolder.open(tmp_path, CONFIG):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / ".lock").exists()  # released and removed


def test_resume_refuses_another_config_without_writing(tmp_path):
    out = _started(tmp_path / "run", epochs=2)
    before = (out / "config.json").read_bytes()
    changed = CONFIG.replace(train={"learning_rate": 0.01, "seed": 3})
    with pytest.raises(ValueError, match=r"train.learning_rate 0.001 -> 0.01; train.seed 0 -> 3"):
        RunFolder.open(out, changed, resume=True)
    with pytest.raises(ValueError, match=r"train.epochs 2 -> 1"):  # fewer than trained
        RunFolder.open(out, CONFIG.replace(train={"epochs": 1}), resume=True)
    assert (out / "config.json").read_bytes() == before
    with RunFolder.open(out, CONFIG.replace(train={"epochs": 4}), resume=True) as run:
        assert run.resume_dir == out / "epochs" / "2"
    assert (out / "config.json").read_bytes() == before  # until an epoch of the longer run


def test_a_start_stopped_before_its_first_epoch_leaves_no_run(tmp_path):
    RunFolder.open(tmp_path, CONFIG).close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="expected a committed epoch .*without --resume"):
        RunFolder.open(tmp_path, CONFIG, resume=True)
    RunFolder.open(tmp_path, CONFIG.replace(train={"seed": 1})).close()  # a new run may start


def test_leftovers_of_killed_writes_are_removed_at_the_next_start(tmp_path):
    out = _started(tmp_path / "run")
    leftovers = [
        out / "epochs" / ".tmp-2",  # an epoch being written
        out / "epochs" / "2",  # renamed, but the pointer never switched
        out / ".tmp-model.pt",  # a top-level link being replaced
        out / ".latest.abc123",  # the pointer being written
    ]
    for path in leftovers[:2]:
        path.mkdir()
        (path / "model.pt").write_text("half")
    for path in leftovers[2:]:
        path.write_text("half")
    (out / "model.pt").unlink()  # killed while refreshing the top-level links
    with RunFolder.open(out, CONFIG, resume=True) as run:
        assert run.resume_dir == out / "epochs" / "1"
    assert not any(path.exists() for path in leftovers)
    assert (out / "model.pt").read_text() == "weights 1"


def test_a_failed_write_keeps_the_previous_epoch(tmp_path):
    def full_disk(folder):
        (folder / "model.pt").write_text("half")
        raise OSError(28, "No space left on device")

    with RunFolder.open(tmp_path, CONFIG) as run:
        run.commit_epoch(1, _write({"model.pt": "w1"}))
        with pytest.raises(
            ValueError, match="could not save epoch 2 .*the run still holds epoch 1"
        ):
            run.commit_epoch(2, full_disk)
    assert committed_epoch(tmp_path) == 1 and (tmp_path / "model.pt").read_text() == "w1"
    assert sorted(p.name for p in (tmp_path / "epochs").iterdir()) == ["1"]
    with (
        RunFolder.open(tmp_path / "new", CONFIG) as run,
        pytest.raises(ValueError, match="could not save epoch 1 .*holds epoch 0"),
    ):
        run.commit_epoch(1, full_disk)
    RunFolder.open(tmp_path / "new", CONFIG).close()  # no run was left: it may start again


def test_out_must_be_a_writable_directory(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ValueError, match="expected a directory, got a file"):
        RunFolder.open(file, CONFIG)
    with pytest.raises(ValueError, match="cannot write there"):
        RunFolder.open(file / "run", CONFIG)


def test_a_broken_pointer_is_named(tmp_path):
    out = _started(tmp_path / "run")
    (out / "latest").write_text("7\n")
    with pytest.raises(ValueError, match="latest should name a folder in epochs/, got '7'"):
        committed_epoch(out)


def test_a_flat_folder_with_a_model_is_never_resumed_over(tmp_path):
    """A run from before epochs/ (or a copy of a shipped checkpoint) has no committed epoch."""
    (tmp_path / "config.json").write_text(json.dumps(CONFIG.to_dict()))
    (tmp_path / "model.pt").write_text("old weights")
    with pytest.raises(ValueError, match="expected a committed epoch .*older .*--overwrite"):
        RunFolder.open(tmp_path, CONFIG, resume=True)
    assert (tmp_path / "model.pt").read_text() == "old weights"
