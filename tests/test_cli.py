import io
import json
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from nfp_lib.cli import main
from nfp_lib.data import generate_moving_mnist


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(
        ["train", "--backend", "torch", "--config", "tiny", "--out", str(out), "--epochs", "1"]
        + ["--no-progress", "--device", "cpu"]
    )
    assert code == 0
    return out


def test_train_writes_checkpoint_config_and_history(torch_run):
    assert (torch_run / "model.pt").is_file()
    history = json.loads((torch_run / "history.json").read_text())
    assert history["epoch"] == [1]
    assert json.loads((torch_run / "config.json").read_text())["model"]["filters"] == [8]


def test_evaluate_json(torch_run, capsys):
    args = ["evaluate", "--checkpoint", str(torch_run), "--num-sequences", "3"]
    assert main(args + ["--context", "4", "--horizon", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["next_frame"]) == {"mse", "mae", "psnr", "ssim", "ssim_7x7"}
    for part in ("rollout", "copy_last", "blank"):
        assert set(result[part]) == {"mse", "mae", "psnr", "ssim", "ssim_7x7", "mse_sum", "ink"}
        assert all(len(values) == 3 for values in result[part].values())
    assert result["horizon"] == 3 and result["context"] == 4
    assert 0.0 <= result["next_frame"]["mse"] <= 1.0


def test_evaluate_digits(torch_run, capsys):
    args = ["evaluate", "--checkpoint", str(torch_run), "--num-sequences", "3", "--json"]
    blank = {}
    for digits in ("sklearn", "varied", None):
        assert main(args + (["--digits", digits] if digits else [])) == 0
        blank[digits] = json.loads(capsys.readouterr().out)["blank"]["mse_sum"]
    # the blank frame's error is the truth's summed square: it tells which digits were drawn
    truth = generate_moving_mnist(3, num_frames=20, seed=2026, digits="varied")[:, 10:]
    np.testing.assert_allclose(blank["varied"], (truth**2).sum(axis=(2, 3, 4)).mean(0), rtol=1e-5)
    assert blank[None] == blank["sklearn"] != blank["varied"]  # the book's held-out set


def test_evaluate_mirror_average_overrides_the_checkpoint(torch_run, capsys):
    from nfp_lib.backends import load_model, with_mirror_average
    from nfp_lib.evaluate import evaluate

    args = ["evaluate", "--checkpoint", str(torch_run), "--num-sequences", "2", "--json"]
    rollout = {}
    for choice in ("on", "off", None):
        assert main(args + (["--mirror-average", choice] if choice else [])) == 0
        rollout[choice] = json.loads(capsys.readouterr().out)["rollout"]
    assert rollout[None] == rollout["off"] != rollout["on"]  # tiny predicts in one pass
    model, _ = load_model(torch_run)
    video = generate_moving_mnist(2, num_frames=20, seed=2026)
    averaged = evaluate(with_mirror_average(model, True), video)["rollout"]
    np.testing.assert_allclose(rollout["on"]["mse"], averaged["mse"], rtol=1e-6)


def test_evaluate_table(torch_run, capsys):
    args = ["evaluate", "--checkpoint", str(torch_run), "--num-sequences", "2"]
    assert main(args + ["--context", "3", "--horizon", "2"]) == 0
    table = capsys.readouterr().out
    assert "next frame (teacher forced)" in table
    assert len(table.strip().splitlines()) == 4 + 2
    assert "frames 0-2 seen, 3-4 predicted" in table and "blank" in table


def test_predict_from_npy_and_gif(torch_run, tmp_path, capsys):
    clip = np.random.default_rng(0).random((5, 64, 64), dtype=np.float32)
    np.save(tmp_path / "clip.npy", clip)
    out_gif, out_npy = tmp_path / "pred.gif", tmp_path / "pred.npy"
    args = ["predict", "--checkpoint", str(torch_run), "--input", str(tmp_path / "clip.npy")]
    assert main(args + ["--frames", "4", "--gif", str(out_gif), "--npy", str(out_npy)]) == 0
    assert np.load(out_npy).shape == (1, 4, 64, 64, 1)
    assert iio.imread(out_gif).shape[0] == 4
    gif_in = tmp_path / "clip.gif"
    iio.imwrite(gif_in, (clip * 255).astype(np.uint8), extension=".gif")
    args = ["predict", "--checkpoint", str(torch_run), "--input", str(gif_in)]
    assert main(args + ["--frames", "2", "--npy", str(out_npy)]) == 0
    assert np.load(out_npy).shape == (1, 2, 64, 64, 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "--checkpoint", "no/such/run"], "no such file"),
        (["train", "--config", "no-such-preset", "--out", "x"], "preset"),
        (
            ["train", "--backend", "torch", "--config", "tiny", "--out", "x", "--epochs", "0"],
            "epochs",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("nfp: error:") and message in err
    assert len(err.strip().splitlines()) == 1


def test_predict_frames_must_be_positive(torch_run, tmp_path, capsys):
    np.save(tmp_path / "clip.npy", np.zeros((3, 64, 64), np.float32))
    args = ["predict", "--checkpoint", str(torch_run), "--input", str(tmp_path / "clip.npy")]
    assert main(args + ["--frames", "0", "--npy", str(tmp_path / "p.npy")]) == 2
    assert "--frames" in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists()


def test_subprocess_error_has_no_traceback(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"not a checkpoint")
    done = subprocess.run(
        [sys.executable, "-m", "nfp_lib", "evaluate", "--checkpoint", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(bad) in done.stderr


def test_pretrained_lists_shipped_names(capsys):
    from nfp_lib.pretrained import list_pretrained

    assert main(["pretrained"]) == 0
    out = capsys.readouterr().out
    for name in list_pretrained():
        assert name in out


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("checkpoint", ["torch", "laptop-keras"])
def test_predict_counts_frames_on_a_terminal_only(checkpoint, torch_run, tmp_path, monkeypatch):
    np.save(tmp_path / "clip.npy", np.zeros((3, 64, 64), np.float32))
    model = str(torch_run) if checkpoint == "torch" else checkpoint
    args = ["predict", "--checkpoint", model, "--input", str(tmp_path / "clip.npy")]
    args += ["--frames", "12", "--npy", str(tmp_path / "p.npy")]
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(args) == 0
    assert "12/12" in terminal.getvalue()
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    assert main(args) == 0
    assert pipe.getvalue() == ""
