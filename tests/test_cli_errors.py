"""Hostile input through the command line: every case ends as one line on stderr naming the file
or flag, and exit code 2; nothing is trained or written on the way."""

import json
import os
import shutil
import signal
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from nfp_lib import cli
from nfp_lib.cli import main
from nfp_lib.config import PRESETS
from nfp_lib.runs import RunFolder, committed_epoch

TRAIN = ["train", "--config", "tiny", "--epochs", "1", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished one-epoch run of each backend."""
    folder = tmp_path_factory.mktemp("runs")
    for backend in ("torch", "keras"):
        assert main([*TRAIN, "--backend", backend, "--out", str(folder / backend)]) == 0
    return folder


def _clip(path, frames: int = 3, size: int = 64):
    np.save(path, np.zeros((frames, size, size), np.float32))
    return path


def _gif(path):
    frames = np.arange(3, dtype=np.uint8)[:, None, None] * np.ones((3, 64, 64), np.uint8) * 80
    iio.imwrite(path, frames, extension=".gif")  # three different frames (equal ones merge)
    return path


def _npy_header(path, shape):
    """A .npy file whose header declares ``shape`` float32 and holds no data."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
    return path


def _torch_checkpoint(runs, tmp_path, change):
    checkpoint = torch.load(runs / "torch" / "model.pt", weights_only=True)
    change(checkpoint)
    torch.save(checkpoint, tmp_path / "model.pt")
    return tmp_path / "model.pt"


def _keras_copy(runs, tmp_path, config_change=None):
    folder = tmp_path / "keras"
    folder.mkdir()
    shutil.copy(runs / "keras" / "model.keras", folder)
    config = json.loads((runs / "keras" / "config.json").read_text())
    if config_change:
        config_change(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _config_file(tmp_path, part, key, value):
    config = PRESETS["tiny"].to_dict()
    config[part] = value if key is None else {**config[part], key: value}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def _set_nan(checkpoint):
    checkpoint["model"]["head.weight"][0] = float("nan")


def _predict(checkpoint, clip, out="--npy", target="p.npy", *extra):
    return ["predict", "--checkpoint", str(checkpoint), "--input", str(clip), out, target, *extra]


def _predict_on(clip, *extra):
    """argv predicting from the torch run with the input ``clip(tmp_path)``."""
    return lambda t, r: _predict(r / "torch", clip(t), "--npy", "p.npy", *extra)


def _evaluate_on(checkpoint, *extra):
    """argv evaluating ``checkpoint(tmp_path, runs)``."""
    return lambda t, r: ["evaluate", "--checkpoint", str(checkpoint(t, r)), *extra]


def _train_with(part, key, value):
    """argv training a new run with the tiny preset changed at ``part.key``."""
    return lambda t, r: [
        *TRAIN[:2],
        str(_config_file(t, part, key, value)),
        *TRAIN[3:],
        "--out",
        str(t / "o"),
    ]


def _evaluate_data(data):
    """argv evaluating the torch run on the Moving MNIST file ``data(tmp_path)``."""
    return lambda t, r: [
        *["evaluate", "--checkpoint", str(r / "torch"), "--data", str(data(t)), "--no-md5"],
        *["--num-sequences", "2"],
    ]


def _model_change(**change):
    return lambda c: c["config"]["model"].update(change)


# Each case: (class, name, a function (tmp_path, runs) -> argv, what the message must name).
CASES = [
    ("input", "0-byte gif", _predict_on(lambda t: _empty(t / "a.gif")), "a.gif"),
    ("input", "text gif", _predict_on(lambda t: _text(t / "a.gif")), "not a GIF"),
    ("input", "truncated gif", _predict_on(lambda t: _cut(_gif(t / "a.gif"))), "a.gif"),
    ("input", "png as gif", _predict_on(lambda t: _png(t / "a.gif")), "not a GIF"),
    ("input", "0-byte npy", _predict_on(lambda t: _empty(t / "a.npy")), "a.npy"),
    ("input", "text npy", _predict_on(lambda t: _text(t / "a.npy")), "a.npy"),
    ("input", "truncated npy", _predict_on(lambda t: _cut(_clip(t / "a.npy"))), "truncated"),
    ("input", "gif as npy", _predict_on(lambda t: _renamed(_gif(t / "a.gif"))), "b.npy"),
    ("input", "missing input", _predict_on(lambda t: t / "none.npy"), "no such file"),
    ("input", "input is a directory", _predict_on(lambda t: _dir(t / "d.npy")), "a directory"),
    (
        "input",
        "400 GB header",
        _predict_on(lambda t: _npy_header(t / "a.npy", (10**5, 10**3, 10**3))),
        "GiB",
    ),
    ("input", "object npy", _predict_on(lambda t: _objects(t / "a.npy")), "a.npy"),
    ("input", "wrong frame size", _predict_on(lambda t: _clip(t / "a.npy", size=32)), "64x64"),
    (
        "data",
        "0-byte --data",
        _evaluate_data(lambda t: _empty(t / "m.npy")),
        "m.npy: not a readable",
    ),
    ("data", "text --data", _evaluate_data(lambda t: _text(t / "m.npy")), "m.npy: not a readable"),
    ("data", "truncated --data", _evaluate_data(lambda t: _cut(_mnist(t / "m.npy"))), "truncated"),
    (
        "data",
        "2 TB --data header",
        _evaluate_data(lambda t: _npy_header(t / "m.npy", (20, 10**5, 10**3, 10**3))),
        "GiB",
    ),
    ("data", "--data is a directory", _evaluate_data(lambda t: _dir(t / "d.npy")), "d.npy"),
    (
        "data",
        "--data of 32x32 frames",
        _evaluate_data(lambda t: _mnist(t / "m.npy", size=32)),
        "64x64",
    ),
    ("output", "--npy x.txt", _predict_on(lambda t: _clip(t / "a.npy"), "--npy", "x.txt"), "--npy"),
    (
        "output",
        "--npy is a directory",
        lambda t, r: _predict(r / "torch", _clip(t / "a.npy"), "--npy", str(t)),
        "--npy",
    ),
    (
        "output",
        "--gif is a directory",
        lambda t, r: _predict(r / "torch", _clip(t / "a.npy"), "--gif", str(t)),
        "--gif",
    ),
    (
        "flag",
        "--frames 10000",
        _predict_on(lambda t: _clip(t / "a.npy"), "--frames", "10000"),
        "--frames",
    ),
    (
        "flag",
        "--num-sequences 10**7",
        _evaluate_on(lambda t, r: r / "torch", "--num-sequences", "10000000"),
        "--num-sequences",
    ),
    (
        "flag",
        "--context 5000",
        _evaluate_on(lambda t, r: r / "torch", "--context", "5000"),
        "--context",
    ),
    (
        "config",
        "deeply nested JSON",
        lambda t, r: ["train", "--config", str(_nested(t)), "--out", str(t / "o")],
        "not valid JSON",
    ),
    ("config", "seed 2**70", _train_with("train", "seed", 2**70), "seed"),
    ("config", "epochs 10**9", _train_with("train", "epochs", 10**9), "epochs"),
    ("flag", "--horizon 0", _evaluate_on(lambda t, r: r / "torch", "--horizon", "0"), "--horizon"),
    (
        "checkpoint",
        "channels 1.5",
        _evaluate_on(lambda t, r: _torch_checkpoint(r, t, _model_change(channels=1.5))),
        "channels",
    ),
    (
        "checkpoint",
        "filters [200000]",
        _evaluate_on(lambda t, r: _torch_checkpoint(r, t, _model_change(filters=[200000]))),
        "filters",
    ),
    (
        "checkpoint",
        "NaN torch weights",
        _evaluate_on(lambda t, r: _torch_checkpoint(r, t, _set_nan)),
        "finite weights",
    ),
    (
        "checkpoint",
        "keras filters: 5",
        _evaluate_on(lambda t, r: _keras_copy(r, t, lambda c: c["model"].update(filters=5))),
        "filters",
    ),
    (
        "checkpoint",
        "keras config of another model",
        _evaluate_on(lambda t, r: _keras_copy(r, t, lambda c: c["model"].update(filters=[16]))),
        "config.json describes",
    ),
    (
        "checkpoint",
        "truncated keras",
        _evaluate_on(lambda t, r: _cut(_keras_copy(r, t) / "model.keras")),
        "model.keras",
    ),
    (
        "train",
        "--out under a file",
        lambda t, r: [*TRAIN, "--out", str(_text(t / "f") / "run")],
        "--out",
    ),
    ("train", "--out is a file", lambda t, r: [*TRAIN, "--out", str(_text(t / "f"))], "--out"),
    (
        "train",
        "--device with keras",
        lambda t, r: [*TRAIN, "--backend", "keras", "--out", str(t / "o"), "--device", "cpu"],
        "--device",
    ),
    (
        "train",
        "--device nosuchdevice",
        lambda t, r: [*TRAIN, "--out", str(t / "o"), "--device", "nosuchdevice"],
        "--device",
    ),
    ("train", "a finished run", lambda t, r: [*TRAIN, "--out", str(r / "torch")], "--overwrite"),
    (
        "train",
        "resume from a damaged history",
        lambda t, r: [
            *TRAIN,
            "--backend",
            "keras",
            "--out",
            str(_damaged_history(r, t)),
            "--resume",
        ],
        "history.json is not valid JSON",
    ),
    (
        "train",
        "resume with another rate",
        lambda t, r: [
            *TRAIN[:2],
            str(_config_file(t, "train", "learning_rate", 0.5)),
            *TRAIN[3:],
            "--out",
            str(r / "torch"),
            "--resume",
        ],
        "learning_rate",
    ),
    (
        "train",
        "resume with another num_train",
        lambda t, r: [
            *TRAIN,
            "--out",
            str(r / "keras"),
            "--resume",
            "--backend",
            "keras",
            "--num-train",
            "16",
        ],
        "num_train",
    ),
    ("config", '"epochs": "5"', _train_with("train", "epochs", "5"), "epochs"),
    ("config", '"epochs": 2.5', _train_with("train", "epochs", 2.5), "epochs"),
    ("config", '"model": null', _train_with("model", None, None), "ModelConfig"),
    ("config", "image_size 100000", _train_with("train", "image_size", 100000), "image_size"),
    ("config", '"fresh_data": "no"', _train_with("train", "fresh_data", "no"), "fresh_data"),
    (
        "config",
        '"mixed_precision": "false"',
        _train_with("train", "mixed_precision", "false"),
        "mixed_precision",
    ),
    (
        "config",
        "patience -1",
        _train_with("train", "early_stopping_patience", -1),
        "early_stopping_patience",
    ),
]  # noqa: E501


def _nested(tmp_path):
    path = tmp_path / "nested.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def _mnist(path, size: int = 64):
    np.save(path, np.zeros((20, 3, size, size), np.uint8))  # time first, as the official file
    return path


def _damaged_history(runs, tmp_path):
    """A copy of the Keras run whose committed history.json is cut in half."""
    copy = shutil.copytree(runs / "keras", tmp_path / "copy")
    _cut(copy / "epochs" / "1" / "history.json")
    return copy


def _empty(path):
    path.write_bytes(b"")
    return path


def _text(path):
    path.write_text("hello, not a video\n")
    return path


def _cut(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _png(path):
    iio.imwrite(path, np.zeros((64, 64), np.uint8), extension=".png")
    return path


def _renamed(path):
    return path.rename(path.with_name("b.npy"))


def _dir(path):
    path.mkdir()
    return path


def _objects(path):
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("kind, name, argv, names", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_hostile_input_is_one_line_and_exit_2(
    kind, name, argv, names, runs, tmp_path, capsys, monkeypatch
):
    before = {p: p.read_bytes() for p in runs.rglob("*") if p.is_file()}
    monkeypatch.chdir(tmp_path)
    assert main(argv(tmp_path, runs)) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("nfp: error: ") and names in captured.err, captured.err
    assert len(captured.err.splitlines()) == 1 and captured.out == ""
    assert not (tmp_path / "p.npy").exists() and not (tmp_path / "o").exists()
    assert {p: p.read_bytes() for p in before} == before  # the runs are untouched


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda(tmp_path, capsys):
    assert main([*TRAIN, "--out", str(tmp_path / "o"), "--device", "cuda"]) == 2
    assert "--device: cuda is not available" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only tmpfs needs root")
def test_out_on_a_read_only_file_system(tmp_path, capsys):
    if os.system(f"mount -t tmpfs -o ro,size=1m tmpfs {tmp_path}") != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert (
            err
            == f"nfp: error: --out {tmp_path / 'run'}: cannot write there (Read-only file system)\n"
        )
    finally:
        os.system(f"umount {tmp_path}")


def test_an_error_in_a_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "clip.npy"
    bad.write_text("not numpy")
    done = subprocess.run(
        [sys.executable, "-m", "nfp_lib", "predict", "--checkpoint", "laptop-torch"]
        + ["--input", str(bad), "--npy", str(tmp_path / "p.npy")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"nfp: error: {bad}: not a readable .npy file")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_ctrl_c_keeps_the_epoch_says_one_line_and_exits_130(backend, tmp_path):
    """Ctrl-C (SIGINT) right after epoch 1 is committed, in a forked child."""
    out, err = tmp_path / "run", tmp_path / "stderr"
    pid = os.fork()
    if pid == 0:
        try:
            torch.set_num_threads(1)  # the parent's OpenMP threads did not survive the fork
            sys.stderr = open(err, "w")  # noqa: SIM115 - the child exits without closing
            signal.signal(signal.SIGINT, signal.default_int_handler)
            commit = RunFolder.commit_epoch

            def commit_then_ctrl_c(self, *args, **kwargs):
                folder = commit(self, *args, **kwargs)
                os.kill(os.getpid(), signal.SIGINT)
                return folder

            RunFolder.commit_epoch = commit_then_ctrl_c
            code = main([*TRAIN[:4], "2", "--no-progress", "--backend", backend, "--out", str(out)])
            sys.stderr.flush()
            os._exit(code)
        finally:
            os._exit(1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 130
    assert err.read_text() == f"nfp: interrupted; {out} holds epoch 1, continue it with --resume\n"
    assert committed_epoch(out) == 1


def test_ctrl_c_while_starting_writes_nothing(tmp_path, monkeypatch, capsys):
    import nfp_lib.backends

    def interrupted(name):
        raise KeyboardInterrupt  # as if Ctrl-C came while torch or Keras was being imported

    monkeypatch.setattr(nfp_lib.backends, "backend_module", interrupted)
    assert main([*TRAIN, "--out", str(tmp_path / "run")]) == 130
    assert (
        capsys.readouterr().err
        == f"nfp: interrupted; {tmp_path / 'run'} holds no committed epoch\n"
    )
    assert not (tmp_path / "run").exists()


class _Payload:
    """Unpickling this runs a shell command: a file must never be able to do that."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_files_that_would_run_code_are_refused_in_one_line(runs, tmp_path, capsys):
    import keras

    marker = tmp_path / "ran"
    pickle = tmp_path / "model.pt"
    torch.save({"format": "nfp-torch-1", "config": _Payload(marker)}, pickle)
    lam = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda x: x * 2)])
    lam.save(tmp_path / "lambda.keras")
    for checkpoint in (pickle, tmp_path / "lambda.keras"):
        assert main(["evaluate", "--checkpoint", str(checkpoint)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nfp: error: ") and str(checkpoint) in err, err
        assert len(err.splitlines()) == 1
    assert not marker.exists()


def test_a_keras_model_with_nan_weights_is_refused(runs, tmp_path, capsys):
    from nfp_lib.keras_backend import load_model

    folder = _keras_copy(runs, tmp_path)
    model, _ = load_model(folder / "model.keras")
    model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    model.save(folder / "model.keras")
    assert main(["evaluate", "--checkpoint", str(folder)]) == 2
    assert "expected finite weights" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["train", "--config", "tiny", "--out", "o", "--epochs", "abc"], ["nosuch"], []]
)
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("nfp: error: ") and "--help" in err and len(err.splitlines()) == 1


def test_resume_and_overwrite_together_are_refused(runs, capsys):
    assert main([*TRAIN, "--out", str(runs / "torch"), "--resume", "--overwrite"]) == 2
    assert "--resume, --overwrite: expected one of them" in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [
        MemoryError(),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB\nmore"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
    ],
)
def test_out_of_memory_is_one_line(error, tmp_path, monkeypatch, capsys):
    import nfp_lib.torch_backend as torch_backend

    def fit(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch_backend, "fit", fit)
    assert main([*TRAIN, "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"nfp: error: {cli.OUT_OF_MEMORY}\n"


def test_other_runtime_errors_are_not_hidden(tmp_path, monkeypatch):
    import nfp_lib.torch_backend as torch_backend

    def fit(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(torch_backend, "fit", fit)
    with pytest.raises(RuntimeError, match="a bug"):
        main([*TRAIN, "--out", str(tmp_path / "o")])


def test_a_gif_too_large_to_decode_is_refused_before_decoding(runs, tmp_path, monkeypatch, capsys):
    import nfp_lib.data

    monkeypatch.setattr(nfp_lib.data, "MAX_CLIP_BYTES", 3 * 64 * 64 * 4 - 1)  # just too small
    gif = _gif(tmp_path / "a.gif")
    assert main(_predict(runs / "torch", gif, "--npy", str(tmp_path / "p.npy"))) == 2
    assert "3 frames of 64x64 pixels, expected at most" in capsys.readouterr().err
