import numpy as np
import pytest

from nfp_lib import metrics
from nfp_lib.data import load_digits
from nfp_lib.metrics import PSNR_CAP, frame_metrics, mae, mse, mse_sum, psnr, ssim

FUNCTIONS = {"mse": mse, "mae": mae, "psnr": psnr, "ssim": ssim, "mse_sum": mse_sum}


def _pair(shape, noise=0.2, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(shape, dtype=np.float32)
    b = np.clip(a + noise * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return a, b


def _loop(y_true, y_pred, per_image):
    """Reference: a Python loop over sequences and frames, then the mean over sequences."""
    n, t = y_true.shape[:2]
    values = [
        [
            per_image(y_true[i, k].astype(np.float64), y_pred[i, k].astype(np.float64))
            for k in range(t)
        ]
        for i in range(n)
    ]
    return np.mean(values, axis=0)


def _ref_psnr(a, b):
    err = np.mean((a - b) ** 2)
    return PSNR_CAP if err == 0 else min(PSNR_CAP, 10 * np.log10(1 / err))


@pytest.mark.parametrize("shape", [(3, 4, 16, 16, 1), (2, 3, 12, 20, 3)])
def test_pixel_metrics_match_loop_references(shape):
    a, b = _pair(shape)
    refs = {
        "mse": lambda x, y: np.mean((x - y) ** 2),
        "mae": lambda x, y: np.mean(np.abs(x - y)),
        "psnr": _ref_psnr,
        "mse_sum": lambda x, y: np.sum((x - y) ** 2),
    }
    for name, ref in refs.items():
        got = FUNCTIONS[name](a, b)
        assert got.shape == (shape[1],) and got.dtype == np.float64
        np.testing.assert_allclose(got, _loop(a, b, ref), rtol=1e-10, err_msg=name)


def test_psnr_averages_per_image_values():
    a = np.zeros((2, 1, 4, 4, 1), np.float32)
    b = a.copy()
    b[0] = 0.1  # mse 0.01 -> 20 dB
    b[1] = 0.01  # mse 1e-4 -> 40 dB
    np.testing.assert_allclose(psnr(a, b), [30.0])  # not 10*log10(1/mean mse) = 23 dB


def test_mse_sum_is_mse_times_pixels():
    a, b = _pair((2, 3, 8, 6, 3))
    np.testing.assert_allclose(mse_sum(a, b), mse(a, b) * 8 * 6 * 3)


def test_identical_and_opposite_frames():
    a = np.zeros((2, 3, 16, 16, 1), np.float32)
    b = np.ones_like(a)
    rng_video = _pair((2, 3, 16, 16, 1))[0]
    scores = frame_metrics(rng_video, rng_video)
    np.testing.assert_array_equal(scores["mse"], 0)
    np.testing.assert_array_equal(scores["psnr"], PSNR_CAP)
    np.testing.assert_allclose(scores["ssim"], 1.0)
    scores = frame_metrics(a, b)
    np.testing.assert_array_equal(scores["mse"], 1)
    np.testing.assert_array_equal(scores["mae"], 1)
    np.testing.assert_array_equal(scores["psnr"], 0)
    np.testing.assert_array_equal(scores["mse_sum"], 256)


def test_psnr_is_capped_for_tiny_errors():
    a = np.full((1, 2, 8, 8, 1), 0.5, np.float32)
    b = a.copy()
    b[0, 0, 0, 0, 0] = np.nextafter(np.float32(0.5), np.float32(1))  # error ~6e-8
    np.testing.assert_array_equal(psnr(a, b), PSNR_CAP)


def test_ssim_of_constant_images_follows_the_formula():
    a = np.full((1, 1, 16, 16, 1), 0.2, np.float32)
    b = np.full((1, 1, 16, 16, 1), 0.6, np.float32)
    c1 = 0.01**2
    want = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)  # no variance: contrast term is 1
    np.testing.assert_allclose(ssim(a, b), [want], rtol=1e-5)


def _digit_frames(size, channels, seed=0):
    """A digit on a canvas, and a blurred, shifted, noisy copy: structured test images."""
    rng = np.random.default_rng(seed)
    digits = load_digits()[rng.integers(0, 1797, 3)]
    truth = np.zeros((3, 2, size, size, channels), np.float32)
    for i, d in enumerate(digits):
        crop = d[: min(28, size), : min(28, size)]
        truth[i, :, : crop.shape[0], : crop.shape[1]] = crop[None, :, :, None]
    shifted = np.roll(truth, (1, 2), axis=(2, 3))
    blurred = (shifted + np.roll(shifted, 1, 2) + np.roll(shifted, 1, 3)) / 3
    noisy = blurred + 0.05 * rng.standard_normal(blurred.shape)
    return truth, np.clip(noisy, 0, 1).astype(np.float32)


@pytest.mark.parametrize("size", [16, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["random", "digits"])
def test_ssim_matches_skimage(size, channels, kind):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    if kind == "random":
        a, b = _pair((2, 3, size, size, channels), seed=size + channels)
    else:
        a, b = _digit_frames(size, channels)

    def ref(x, y):
        return skimage_metrics.structural_similarity(
            x,
            y,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
            channel_axis=-1,
        )

    want = _loop(a, b, ref)
    got = ssim(a, b)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.all(got < 1)  # the pairs differ


def test_ssim_on_non_square_frames_matches_skimage():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a, b = _pair((1, 2, 11, 23, 1))
    want = _loop(
        a,
        b,
        lambda x, y: skimage_metrics.structural_similarity(
            x[..., 0],
            y[..., 0],
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1,
        ),
    )
    np.testing.assert_allclose(ssim(a, b), want, atol=1e-4)


@pytest.mark.parametrize("kind", ["random", "digits"])
def test_ssim_7x7_matches_skimage_defaults(kind):
    skimage_metrics = pytest.importorskip("skimage.metrics")
    a, b = _pair((2, 3, 16, 20, 1), seed=4) if kind == "random" else _digit_frames(64, 1)
    want = _loop(
        a, b, lambda x, y: skimage_metrics.structural_similarity(x[..., 0], y[..., 0], data_range=1)
    )
    got = metrics.ssim_7x7(a, b)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.all(np.abs(got - ssim(a, b)) > 1e-4)  # another window: other numbers


def test_chunking_does_not_change_results(monkeypatch):
    a, b = _pair((5, 3, 16, 16, 1))
    whole = frame_metrics(a, b)
    monkeypatch.setattr(metrics, "_CHUNK_VALUES", 1000)  # one sequence per chunk
    parts = frame_metrics(a, b)
    for name in whole:
        np.testing.assert_allclose(parts[name], whole[name], rtol=1e-12, err_msg=name)


def test_frame_metrics_equals_the_single_metrics():
    a, b = _pair((2, 4, 16, 16, 1))
    scores = frame_metrics(a, b)
    assert set(scores) == {"mse", "mae", "psnr", "ssim", "ssim_7x7", "mse_sum"}
    for name, fn in {**FUNCTIONS, "ssim_7x7": metrics.ssim_7x7}.items():
        np.testing.assert_allclose(scores[name], fn(a, b), rtol=1e-12, err_msg=name)


def test_metrics_order_worse_predictions_worse():
    truth, close = _pair((2, 3, 16, 16, 1), noise=0.05)
    _, far = _pair((2, 3, 16, 16, 1), noise=0.3)
    good, bad = frame_metrics(truth, close), frame_metrics(truth, far)
    assert np.all(good["mse"] < bad["mse"]) and np.all(good["mae"] < bad["mae"])
    assert np.all(good["psnr"] > bad["psnr"]) and np.all(good["ssim"] > bad["ssim"])


GOOD = np.full((1, 2, 16, 16, 1), 0.5, np.float32)


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        (GOOD, np.full((1, 3, 16, 16, 1), 0.5, np.float32), "expected equal shapes"),
        (GOOD[0], GOOD[0], "5 dimensions"),
        (GOOD, GOOD.astype(np.uint8), "y_pred: expected floating-point"),
        (GOOD * np.nan, GOOD, "y_true: expected finite"),
        (GOOD, GOOD + 1, r"y_pred: expected values in \[0, 1\]"),
        (GOOD - 1, GOOD, r"y_true: expected values in \[0, 1\]"),
        (GOOD[:0], GOOD[:0], "non-empty"),
        ([0.5], [0.5], "expected an array"),
    ],
)
@pytest.mark.parametrize("name", [*FUNCTIONS, "frame_metrics"])
def test_metrics_reject_bad_input(name, y_true, y_pred, match):
    fn = frame_metrics if name == "frame_metrics" else FUNCTIONS[name]
    with pytest.raises(ValueError, match=match):
        fn(y_true, y_pred)


@pytest.mark.parametrize("fn", [ssim, frame_metrics])
def test_ssim_needs_frames_as_large_as_the_window(fn):
    small = np.full((1, 2, 10, 16, 1), 0.5, np.float32)
    with pytest.raises(ValueError, match="at least 11x11 pixels.*got 10x16"):
        fn(small, small)
    assert np.isfinite(mse(small, small)).all()  # the other metrics accept any size
