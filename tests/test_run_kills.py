"""A training killed at any write step of an epoch, or stopped by a full disk, resumes to exactly
the run an uninterrupted training gives, in both backends.

A forked child trains a tiny run and sends itself SIGKILL or SIGINT (Ctrl-C) just before its
k-th file-system step (an fsync, rename, replace, link or tree removal: every point where what
is on disk changes shape), for every k of the last epoch's commit. Killing while the backend
writes its files into the new epoch's folder leaves the same state as the step before those
files are synced: a folder that no reader opens and the next start removes.
"""

import json
import os
import shutil
import signal

import numpy as np
import pytest
import torch

from nfp_lib import runs
from nfp_lib.config import Config, ModelConfig, TrainConfig
from nfp_lib.data import generate_moving_mnist

# float32 and a weight average, so every file of an epoch (the average, the weights training
# goes on from, optimiser, history, best) must come back exactly.
CONFIG = Config(
    ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none", patch_size=4),
    TrainConfig(
        epochs=2,
        batch_size=4,
        num_train=8,
        num_val=2,
        num_frames=4,
        image_size=32,
        ema_decay=0.5,
        mixed_precision=False,
    ),
)
VIDEO = generate_moving_mnist(8, num_frames=4, size=32, seed=1)
STEPS = [(os, "fsync"), (os, "replace"), (os, "rename"), (os, "link"), (shutil, "rmtree")]


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-identical runs need one thread count in the forked child and here, and a forked
    child has no working OpenMP threads: so one thread throughout."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fit_torch(out, **kwargs) -> dict:
    from nfp_lib.torch_backend import fit

    return fit(
        CONFIG, out, device="cpu", progress=False, train_data=VIDEO, val_data=VIDEO[:2], **kwargs
    )


def _fit_keras(out, **kwargs) -> dict:
    from nfp_lib.keras_backend import fit

    return fit(CONFIG, out, progress=False, train_data=VIDEO, val_data=VIDEO[:2], **kwargs)


def _state_torch(out) -> dict:
    from nfp_lib.torch_backend import load_checkpoint

    checkpoint = load_checkpoint(out / "model.pt")[2]
    arrays = {k: v.numpy() for k, v in checkpoint["model"].items()}
    arrays |= {f"train_{i}": w.numpy() for i, w in enumerate(checkpoint["train_weights"])}
    for group, moments in checkpoint["optimizer"]["state"].items():
        arrays |= {f"adam_{group}_{k}": np.asarray(v) for k, v in moments.items()}
    arrays["best"] = load_checkpoint(out / "best.pt")[0].head.weight.detach().numpy()
    return arrays


def _state_keras(out) -> dict:
    from nfp_lib.keras_backend import load_model

    model, _ = load_model(out / "model.keras")
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    arrays |= {f"adam_{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    with np.load(out / "train_weights.npz") as saved:
        arrays |= {f"train_{k}": saved[k] for k in saved.files}
    return arrays


BACKENDS = {"torch": (_fit_torch, _state_torch), "keras": (_fit_keras, _state_keras)}


def _same_run(out, reference, state) -> None:
    """The committed epoch of ``out`` is bit for bit ``reference``'s (history but its times)."""
    got, expected = state(out), state(reference)
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    history, want = (json.loads((d / "history.json").read_text()) for d in (out, reference))
    del history["time"], want["time"]
    assert history == want
    assert runs.committed_epoch(out) == CONFIG.train.epochs


def _child(fit, out, kill_at: int, sig: int, log) -> int:
    """Fork; the child runs ``fit(out)`` and sends itself ``sig`` just before its ``kill_at``-th
    file-system step (0: never) and logs the step count after each committed epoch. Returns
    the child's wait status."""
    pid = os.fork()
    if pid:
        return os.waitpid(pid, 0)[1]
    try:  # the child: never returns into pytest
        signal.signal(signal.SIGINT, signal.default_int_handler)
        count, commits = [0], []
        for module, name in STEPS:
            setattr(module, name, _counted(getattr(module, name), count, kill_at, sig))
        commit = runs.RunFolder.commit_epoch

        def logged(self, *args, **kwargs):
            folder = commit(self, *args, **kwargs)
            commits.append(count[0])
            log.write_text(json.dumps(commits))
            return folder

        runs.RunFolder.commit_epoch = logged
        fit(out)
        os._exit(0)
    except KeyboardInterrupt:
        os._exit(130)
    finally:
        os._exit(1)


def _counted(function, count: list, kill_at: int, sig: int):
    def step(*args, **kwargs):
        count[0] += 1
        if count[0] == kill_at:
            os.kill(os.getpid(), sig)
        return function(*args, **kwargs)

    return step


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_kill_at_every_step_of_an_epoch_resumes_bit_identical(backend, sig, tmp_path):
    fit, state = BACKENDS[backend]
    reference = tmp_path / "reference"
    fit(reference)
    log = tmp_path / "commits.json"
    assert os.waitstatus_to_exitcode(_child(fit, tmp_path / "counted", 0, sig, log)) == 0
    first, last = json.loads(log.read_text())
    _same_run(tmp_path / "counted", reference, state)  # the child trains as this process does
    kept = []
    for kill_at in range(first + 1, last + 1):
        out = tmp_path / f"killed-{kill_at}"
        status = _child(fit, out, kill_at, sig, log)
        expected = -sig if sig == signal.SIGKILL else 130
        assert os.waitstatus_to_exitcode(status) == expected, kill_at
        kept.append(runs.committed_epoch(out))
        fit(out, resume=True)
        _same_run(out, reference, state)
    # killed before the pointer switched, epoch 1 is kept; after it, epoch 2
    assert kept == sorted(kept) and kept[0] == 1 and kept[-1] == 2 and last - first > 10, kept


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_full_disk_keeps_the_last_epoch_and_resume_finishes(backend, tmp_path, monkeypatch):
    fit, state = BACKENDS[backend]
    fit(tmp_path / "reference")
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.system(f"mount -t tmpfs -o size=4m tmpfs {disk}") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out, filler = disk / "run", disk / "filler"
        commit = runs.RunFolder.commit_epoch

        def fill_after_epoch_1(self, epoch, *args, **kwargs):
            if epoch == 2:  # the disk fills up between epochs
                with open(filler, "wb") as f, pytest.raises(OSError):
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            return commit(self, epoch, *args, **kwargs)

        monkeypatch.setattr(runs.RunFolder, "commit_epoch", fill_after_epoch_1)
        full = r"could not save epoch 2 \(No space left on device\); the run still holds epoch 1"
        with pytest.raises(ValueError, match=full):
            fit(out)
        monkeypatch.undo()
        assert runs.committed_epoch(out) == 1
        assert not list((out / "epochs").glob(".tmp-*"))
        filler.unlink()
        fit(out, resume=True)
        _same_run(out, tmp_path / "reference", state)
    finally:
        os.system(f"umount {disk}")
