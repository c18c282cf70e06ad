"""Per-frame video prediction metrics: MSE, MAE, PSNR, SSIM and the literature's summed MSE.

Each takes ``y_true`` and ``y_pred`` of the same shape ``(N, T, H, W, C)`` with values in [0, 1]
and returns a float64 array ``(T,)``: the metric of every image at frame index ``t``, averaged
over the ``N`` sequences (and the channels). ``result[k]`` is the score ``k + 1`` frames into the
prediction when ``y_true`` holds the future frames. Only numpy and scipy are needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from scipy import ndimage

from nfp_lib.validation import check_same_shape, check_video

PSNR_CAP = 100.0  # dB, the PSNR of a perfect prediction (where 10*log10(1/0) would be inf)

SSIM_WINDOW = 11  # skimage's default with gaussian_weights=True: 2 * int(3.5 * sigma + 0.5) + 1
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
UNIFORM_WINDOW = 7  # scikit-image's default window (and OpenSTL's SSIM)

ArrayLike = TypeVar("ArrayLike")  # a numpy array, or a torch or Keras tensor

_CHUNK_VALUES = 1 << 22  # images are processed in batches of about this many pixel values


def _check_pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_video(y_true, "y_true")
    y_pred = check_video(y_pred, "y_pred")
    check_same_shape(y_true, y_pred, ("y_true", "y_pred"))
    return y_true, y_pred


def _per_frame(
    y_true: np.ndarray, y_pred: np.ndarray, per_image: Callable[[np.ndarray, np.ndarray], object]
) -> np.ndarray:
    """Apply ``per_image`` to float64 chunks of sequences, at least one chunk per CPU core and
    one per core at once (numpy and scipy release the GIL in their loops); return the mean over
    sequences. Each image's value does not depend on the chunks."""
    n, t = y_true.shape[:2]
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    workers = len(cores) if cores else os.cpu_count() or 1
    chunk = max(1, min(_CHUNK_VALUES // (y_true[0].size), -(-n // workers)))
    values = np.empty((n, t), np.float64)

    def run(lo: int) -> None:
        a = y_true[lo : lo + chunk].astype(np.float64)
        b = y_pred[lo : lo + chunk].astype(np.float64)
        values[lo : lo + chunk] = per_image(a, b)

    starts = range(0, n, chunk)
    if len(starts) == 1:
        run(0)
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(run, starts))
    return values.mean(axis=0)


def _mse_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.mean((a - b) ** 2, axis=(2, 3, 4))


def _mae_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(a - b), axis=(2, 3, 4))


def _mse_sum_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum((a - b) ** 2, axis=(2, 3, 4))


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean squared error per frame ``(T,)``: mean over pixels and channels, then sequences."""
    return _per_frame(*_check_pair(y_true, y_pred), _mse_images)


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Mean absolute error per frame ``(T,)``."""
    return _per_frame(*_check_pair(y_true, y_pred), _mae_images)


def mse_sum(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Summed squared error per frame ``(T,)``: sum over the H*W*C pixels, mean over sequences.

    This is the "MSE" of the video prediction literature (PredRNN, OpenSTL's Moving MNIST
    tables): they report the mean over frames of this per-frame sum, i.e. ``mse_sum(...).mean()``.
    It equals ``mse`` times H*W*C.
    """
    return _per_frame(*_check_pair(y_true, y_pred), _mse_sum_images)


def _psnr_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    err = np.mean((a - b) ** 2, axis=(2, 3, 4))
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / err), PSNR_CAP)


def psnr(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio in dB per frame ``(T,)``, data range 1.

    Per image ``10 * log10(1 / mse)``, capped at ``PSNR_CAP`` (100 dB) so that identical
    images give a finite score, then averaged over sequences.
    """
    return _per_frame(*_check_pair(y_true, y_pred), _psnr_images)


def gaussian_window() -> np.ndarray:
    """SSIM's 1-D window: ``SSIM_WINDOW`` Gaussian weights (sigma ``SSIM_SIGMA``) summing to 1.

    The 2-D window is its outer product with itself, so filtering rows, then columns with it
    is the 2-D Gaussian filter (the training losses of both backends filter the same way).
    """
    radius = (SSIM_WINDOW - 1) // 2
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return w / w.sum()


def _valid_filter(x: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means over axes 2 and 3 (H, W), only where the window fits."""
    w, r = gaussian_window(), SSIM_WINDOW // 2
    x = ndimage.correlate1d(x, w, axis=2)[:, :, r:-r]
    return ndimage.correlate1d(x, w, axis=3)[:, :, :, r:-r]


def ssim_map(
    a: ArrayLike,
    b: ArrayLike,
    local_mean: Callable[[ArrayLike], ArrayLike],
    cov_norm: float = 1.0,
) -> ArrayLike:
    """SSIM at every pixel where ``local_mean`` (a Gaussian filter over ``SSIM_WINDOW``) is
    defined, data range 1. ``cov_norm`` scales the local (co)variances: 1 for population ones,
    ``n / (n - 1)`` for the sample ones of an ``n``-pixel uniform window.

    Only arithmetic, so it serves numpy arrays here and torch or Keras tensors in the two
    backends' training losses, each with its own filter: one formula for the score and the loss.
    """
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = cov_norm * (local_mean(a * a) - mu_a**2)
    var_b = cov_norm * (local_mean(b * b) - mu_b**2)
    cov = cov_norm * (local_mean(a * b) - mu_a * mu_b)
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def _ssim_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ssim_map(a, b, _valid_filter).mean(axis=(2, 3, 4))


def ssim(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Structural similarity per frame ``(T,)``, in [-1, 1] (1: identical).

    The standard SSIM of Wang et al. (2004): an 11x11 Gaussian window (sigma 1.5, truncated at
    radius 5), K1 = 0.01, K2 = 0.03, data range 1, population covariances, averaged over the
    pixels whose window lies inside the image and over channels. It matches
    ``skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1)``, which filters with reflected borders and then
    crops 5 pixels per side before averaging, so the border handling never enters. Frames must be
    at least 11x11 pixels.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    _check_ssim_size(y_true)
    return _per_frame(y_true, y_pred, _ssim_images)


def _uniform_filter(x: np.ndarray, size: int = UNIFORM_WINDOW) -> np.ndarray:
    """Means over ``size`` x ``size`` windows of axes 2 and 3 (H, W), where the window fits."""
    r = size // 2
    x = ndimage.uniform_filter1d(x, size, axis=2)[:, :, r:-r]
    return ndimage.uniform_filter1d(x, size, axis=3)[:, :, :, r:-r]


def _ssim_7x7_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = UNIFORM_WINDOW**2
    return ssim_map(a, b, _uniform_filter, cov_norm=n / (n - 1)).mean(axis=(2, 3, 4))


def ssim_7x7(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """SSIM per frame ``(T,)`` as scikit-image computes it by default, and OpenSTL reports it:
    a 7x7 uniform window with sample covariances, K1 = 0.01, K2 = 0.03, data range 1, averaged
    over the pixels whose window lies inside the image (``skimage.metrics.structural_similarity(a,
    b, data_range=1)``). Its numbers are not :func:`ssim`'s: the small flat window scores
    black-on-black windows 1 as well, but a stroke near a miss lower, so compare like with like.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    _check_ssim_size(y_true)
    return _per_frame(y_true, y_pred, _ssim_7x7_images)


def _check_ssim_size(video: np.ndarray) -> None:
    h, w = video.shape[2:4]
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(
            f"ssim: expected frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (the window), "
            f"got {h}x{w}"
        )


def frame_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """All metrics per frame ``(T,)``: keys ``mse``, ``mae``, ``psnr``, ``ssim``, ``mse_sum``."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    _check_ssim_size(y_true)
    per_image = {
        "mse": _mse_images,
        "mae": _mae_images,
        "psnr": _psnr_images,
        "ssim": _ssim_images,
        "mse_sum": _mse_sum_images,
    }
    return {name: _per_frame(y_true, y_pred, fn) for name, fn in per_image.items()}
