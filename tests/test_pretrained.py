import json

import numpy as np
import pytest

from nfp_lib import data
from nfp_lib.evaluate import beats_baselines, predict_future
from nfp_lib.pretrained import (
    CHECKPOINT_DIR,
    list_pretrained,
    load_any,
    pretrained_backend,
    pretrained_config,
    pretrained_dir,
    pretrained_history,
    pretrained_metrics,
)

SHIPPED = {
    "plain-torch": "torch",
    "laptop-torch": "torch",
    "laptop-masks-torch": "torch",
    "wide-masks-torch": "torch",
    "wide-masks-ss-torch": "torch",
    "wide-masks-long-ssim-torch": "torch",
    "big-masks-long-ssim-torch": "torch",
    "big-masks-more-torch": "torch",
    "big-masks-most-torch": "torch",
    "big-masks-varied-torch": "torch",
    "big-masks-mirror-torch": "torch",
    "big-masks-averaged-torch": "torch",
    "big-masks-averaged-more-torch": "torch",
    "plain-keras": "keras",
    "laptop-keras": "keras",
}


def test_shipped_checkpoints_are_listed_with_their_backend():
    assert set(SHIPPED) <= set(list_pretrained())
    for name, backend in SHIPPED.items():
        assert pretrained_backend(name) == backend


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_is_complete_small_and_beats_copying(name):
    folder = CHECKPOINT_DIR / name
    for file in ("config.json", "history.json", "metrics.json", "README.md"):
        assert (folder / file).is_file()
    assert sum(f.stat().st_size for f in folder.iterdir()) < 20 * 2**20
    history = pretrained_history(name)
    assert len(history["epoch"]) == len(history["val_ssim"]) >= 1
    metrics = pretrained_metrics(name)
    assert metrics["num_sequences"] == 500 and metrics["horizon"] == 10
    assert np.all(np.array(metrics["rollout"]["mse"]) < np.array(metrics["copy_last"]["mse"]))
    assert metrics["seen_frames"] == list(range(10)) and "ink" in metrics["blank"]
    assert len(metrics["rollout"]["ssim_7x7"]) == 10  # chapter 7 sets it beside OpenSTL's


@pytest.mark.parametrize(
    "name",
    [
        "wide-masks-ss-torch",
        "wide-masks-long-ssim-torch",
        "big-masks-long-ssim-torch",
        "big-masks-more-torch",
        "big-masks-most-torch",
        "big-masks-varied-torch",
        "big-masks-mirror-torch",
        "big-masks-averaged-torch",
        "big-masks-averaged-more-torch",
    ],
)
def test_the_fine_tuned_checkpoints_beat_the_blank_frame_at_every_horizon(name):
    wins = beats_baselines(pretrained_metrics(name))
    assert wins["blank"] == {"mse": True, "ssim": True}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_loads_offline_and_predicts(name):
    model, config = load_any(name)
    assert config == config.from_dict(
        json.loads((CHECKPOINT_DIR / name / "config.json").read_text())
    )
    assert pretrained_config(name) == config
    clip = data.generate_moving_mnist(2, num_frames=4, seed=7)
    future = predict_future(model, clip, 3)
    assert future.shape == (2, 3, 64, 64, 1)
    assert future.min() >= 0.0 and future.max() <= 1.0


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="laptop-torch"):
        pretrained_dir("no-such-model")
    with pytest.raises(ValueError, match="no such file"):
        load_any("no-such-model")
