"""Data-parallel training: two CPU processes (gloo) launched like torchrun stay in lockstep."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from nfp_lib.config import Config, ModelConfig, TrainConfig
from nfp_lib.torch_backend import build_model, fit, load_checkpoint

WORKER = Path(__file__).with_name("ddp_worker.py")
CONFIG = Config(
    ModelConfig(filters=(4, 4), kernel_sizes=(3, 3), norm="batch", patch_size=4),
    TrainConfig(
        epochs=1,
        batch_size=4,
        num_train=16,
        num_val=6,
        num_frames=5,
        image_size=32,
        mixed_precision=False,  # float32: the ranks' sums must match one process's to 1e-6
    ),
)


def _run_workers(config: Config, out: Path) -> tuple[int, str]:
    """Train ``config`` into ``out`` with two processes; the launcher's exit code and stderr."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node"]
    command += ["2", str(WORKER), json.dumps(config.to_dict()), str(out)]
    launcher = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # its own process group, so a hang can be killed whole
    )
    try:
        _, stderr = launcher.communicate(timeout=240)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.communicate()
    return launcher.returncode, stderr


def _launch(config: Config, out: Path) -> list[dict]:
    """Train ``config`` with two processes; per rank its final weights, history and writes."""
    code, stderr = _run_workers(config, out)
    assert code == 0, stderr[-3000:]
    ranks = []
    for r in (0, 1):
        log = json.loads((out / f"rank{r}.json").read_text())
        log["weights"] = torch.load(out / f"rank{r}.pt", weights_only=True)
        ranks.append(log)
    return ranks


def test_ranks_end_identical_and_only_rank_0_writes(tmp_path):
    ranks = _launch(CONFIG, tmp_path)
    saved = load_checkpoint(tmp_path / "model.pt")[0].state_dict()
    for key, value in saved.items():  # parameters and batch-norm statistics
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key]), key
        assert torch.equal(ranks[0]["weights"][key], value), key
    torch.manual_seed(CONFIG.train.seed)
    assert not torch.equal(build_model(CONFIG.model).head.weight, saved["head.weight"])
    for rank in ranks:
        del rank["history"]["time"]
    assert ranks[0]["history"] == ranks[1]["history"]  # losses and metrics reduced over ranks
    assert ranks[0]["history"]["epoch"] == [1]
    assert {"model.pt", "best.pt"} == set(ranks[0]["writes"])
    assert {"model.pt", "history.json", "config.json"} <= {p.name for p in tmp_path.iterdir()}
    assert ranks[1]["writes"] == []


def test_two_ranks_of_4_step_like_one_process_with_batches_of_8(tmp_path):
    """Each step averages the gradients of the two halves of the same 8 sequences."""
    config = CONFIG.replace(model={"norm": "none"})  # batch statistics would differ per rank
    ranks = _launch(config, tmp_path / "ddp")
    single = config.replace(train={"batch_size": 8})
    history = fit(single, tmp_path / "single", device="cpu", progress=False)
    reference = load_checkpoint(tmp_path / "single" / "model.pt")[0].state_dict()
    for key, value in reference.items():
        torch.testing.assert_close(ranks[0]["weights"][key], value, rtol=0, atol=1e-6, msg=key)
    assert abs(ranks[0]["history"]["loss"][0] - history["loss"][0]) < 1e-6
    assert abs(ranks[0]["history"]["val_loss"][0] - history["val_loss"][0]) < 1e-6


def test_a_start_refused_by_rank_0_stops_every_rank(tmp_path):
    _launch(CONFIG, tmp_path)
    code, stderr = _run_workers(CONFIG, tmp_path)  # into the finished run, without resume
    assert code != 0
    assert "holds a run" in stderr and "rank 0 could not open the run folder" in stderr
