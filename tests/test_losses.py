import keras
import numpy as np
import pytest
import torch
from keras import ops

from nfp_lib import metrics
from nfp_lib.config import LOSSES as LOSS_NAMES
from nfp_lib.keras_backend import KERAS_LOSSES
from nfp_lib.keras_backend import ssim_loss as keras_ssim_loss
from nfp_lib.torch_backend import LOSSES
from nfp_lib.torch_backend import ssim_loss as torch_ssim_loss


def pair(shape=(2, 3, 24, 20, 1), seed=0):
    """A video (N, T, H, W, C) and a noisy, clipped guess of it, float32."""
    rng = np.random.default_rng(seed)
    truth = rng.random(shape, dtype=np.float32)
    guess = np.clip(truth + 0.3 * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return truth, guess


def torch_layout(video: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(video).permute(0, 1, 4, 2, 3)


def test_every_configured_loss_exists_in_both_backends():
    assert set(LOSSES) == set(KERAS_LOSSES) == set(LOSS_NAMES)


@pytest.mark.parametrize("shape", [(2, 3, 24, 20, 1), (1, 2, 11, 16, 3)])
def test_ssim_loss_is_one_minus_the_reported_ssim_in_both_backends(shape):
    truth, guess = pair(shape)
    expected = 1 - metrics.ssim(truth, guess).mean()
    assert 0.1 < expected < 1.5  # a real difference, not a near-perfect guess
    torch_value = torch_ssim_loss(torch_layout(guess), torch_layout(truth)).item()
    assert torch_value == pytest.approx(expected, rel=1e-5)
    per_sequence = ops.convert_to_numpy(keras_ssim_loss(truth, guess))
    assert per_sequence.shape == (shape[0],)
    expected_per_sequence = [
        1 - metrics.ssim(truth[i : i + 1], guess[i : i + 1]).mean() for i in range(shape[0])
    ]
    np.testing.assert_allclose(per_sequence, expected_per_sequence, rtol=1e-5)


def test_ssim_loss_is_zero_for_a_perfect_guess_and_its_gradient_points_to_the_truth():
    truth, guess = pair()
    assert torch_ssim_loss(torch_layout(truth), torch_layout(truth)).item() == pytest.approx(
        0, abs=1e-6
    )
    prediction = torch_layout(guess).clone().requires_grad_(True)
    loss = torch_ssim_loss(prediction, torch_layout(truth))
    loss.backward()
    assert torch.isfinite(prediction.grad).all()
    with torch.no_grad():
        stepped = torch_ssim_loss(prediction - 50 * prediction.grad, torch_layout(truth))
    assert stepped < loss  # a small step against the gradient lowers the loss


def test_ssim_loss_rejects_mismatched_shapes_and_frames_smaller_than_the_window():
    truth, guess = pair()
    with pytest.raises(ValueError, match="one shape"):
        torch_ssim_loss(torch_layout(guess)[:, :2], torch_layout(truth))
    small = np.zeros((1, 2, 10, 16, 1), np.float32)
    with pytest.raises(ValueError, match="at least 11x11"):
        torch_ssim_loss(torch_layout(small), torch_layout(small))
    with pytest.raises(ValueError, match="at least 11x11"):
        keras_ssim_loss(small, small)


def test_bce_clips_saturated_predictions_as_keras_does_and_keeps_gradients_finite():
    target = np.array([[0.0, 0.3, 0.9, 1.0, 0.5, 0.2]], np.float32)
    guess = np.array([[0.0, 1.0, 1.0, 1.0, 0.0, 0.4]], np.float32)  # saturated but for the last
    keras_value = float(
        np.mean(ops.convert_to_numpy(keras.losses.get(KERAS_LOSSES["bce"])(target, guess)))
    )
    prediction = torch.from_numpy(guess).requires_grad_(True)
    loss = LOSSES["bce"](prediction, torch.from_numpy(target))
    assert loss.item() == pytest.approx(keras_value, rel=1e-5)
    assert 2 < loss.item() < 17  # -log(1e-7) is 16.1: saturated pixels count, but finitely
    loss.backward()
    gradient = prediction.grad.numpy()[0]
    assert np.isfinite(gradient).all()
    np.testing.assert_array_equal(gradient[:5], 0)  # clipped pixels: no gradient, as in Keras
    assert gradient[5] == pytest.approx((0.4 - 0.2) / (0.4 * 0.6) / 6, rel=1e-5)


def test_ssim_bce_is_the_sum_of_its_two_losses_in_both_backends(reference_losses):
    truth, guess = pair((3, 2, 16, 16, 1), seed=4)
    guess = np.clip(guess, 0.05, 0.95)
    expected = reference_losses["ssim_bce"](truth.astype(np.float64), guess.astype(np.float64))
    assert expected > reference_losses["ssim"](truth, guess) + 0.1  # the BCE term counts
    torch_value = LOSSES["ssim_bce"](torch_layout(guess), torch_layout(truth)).item()
    keras_value = float(np.mean(ops.convert_to_numpy(KERAS_LOSSES["ssim_bce"](truth, guess))))
    assert torch_value == pytest.approx(expected, rel=1e-5)
    assert keras_value == pytest.approx(expected, rel=1e-5)
