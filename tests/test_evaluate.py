import numpy as np
import pytest
import torch

from nfp_lib import data, metrics
from nfp_lib.config import ModelConfig
from nfp_lib.evaluate import beats_baselines, blank_frame, copy_last_frame, evaluate, ink_ratio
from nfp_lib.torch_backend import build_model, predict_next, rollout

VIDEO = data.generate_moving_mnist(4, num_frames=12, seed=3)


def test_baselines_have_the_forecast_shape():
    seen = VIDEO[:, :5]
    assert blank_frame(seen, 7).shape == copy_last_frame(seen, 7).shape == (4, 7, 64, 64, 1)
    assert not blank_frame(seen, 7).any()
    assert np.array_equal(copy_last_frame(seen, 2)[:, 1], VIDEO[:, 4])


def test_ink_ratio_is_one_for_the_truth_zero_for_blank_and_scales_with_intensity():
    future = VIDEO[:, 5:]
    np.testing.assert_allclose(ink_ratio(future, future), 1.0, rtol=1e-6)
    assert np.all(ink_ratio(future, blank_frame(VIDEO[:, :5], 7)) == 0)
    np.testing.assert_allclose(ink_ratio(future, 0.5 * future), 0.5, rtol=1e-6)
    assert ink_ratio(future, future).shape == (7,)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(filters=(4,), kernel_sizes=(3,), norm="none", patch_size=4))


@pytest.fixture(scope="module")
def result(model):
    return evaluate(model, VIDEO, context=5, horizon=6)


def test_evaluate_scores_the_one_step_and_the_rolled_out_frames(model, result):
    rolled = rollout(model, VIDEO[:, :5], 6)
    expected = metrics.frame_metrics(VIDEO[:, 5:11], rolled)
    for key in ("mse", "ssim", "mse_sum"):
        np.testing.assert_allclose(result["rollout"][key], expected[key], rtol=1e-5, atol=1e-7)
    one_step = predict_next(model, VIDEO)
    expected_ssim = metrics.ssim(VIDEO[:, 1:], one_step).mean()
    np.testing.assert_allclose(result["next_frame"]["ssim"], expected_ssim, rtol=1e-6)


def test_evaluate_reports_both_baselines_and_the_frames_it_saw(result):
    assert result["seen_frames"] == [0, 1, 2, 3, 4]
    assert result["predicted_frames"] == [5, 6, 7, 8, 9, 10]
    for part in ("rollout", "copy_last", "blank"):
        assert set(result[part]) == {"mse", "mae", "psnr", "ssim", "ssim_7x7", "mse_sum", "ink"}
        assert all(len(values) == 6 for values in result[part].values())
    assert result["blank"]["ink"] == [0.0] * 6
    truth = VIDEO[:, 5:11]
    blank_mse = (truth**2).sum(axis=(2, 3, 4)).mean(axis=0)
    np.testing.assert_allclose(result["blank"]["mse_sum"], blank_mse, rtol=1e-5)


def test_beats_baselines_compares_every_horizon(result):
    good = {**result, "rollout": {"mse": [0.0] * 6, "ssim": [1.0] * 6}}
    assert beats_baselines(good) == {
        "copy_last": {"mse": True, "ssim": True},
        "blank": {"mse": True, "ssim": True},
    }
    one_bad = {"mse": [0.0] * 5 + [1.0], "ssim": [1.0] * 5 + [0.0]}
    assert beats_baselines({**result, "rollout": one_bad})["blank"] == {"mse": False, "ssim": False}
