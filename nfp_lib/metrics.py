"""Per-frame video prediction metrics: MSE, MAE, PSNR, SSIM and the literature's summed MSE.

Each takes ``y_true`` and ``y_pred`` of the same shape ``(N, T, H, W, C)`` with values in [0, 1]
and returns a float64 array ``(T,)``: the metric of every image at frame index ``t``, averaged
over the ``N`` sequences (and the channels). ``result[k]`` is the score ``k + 1`` frames into the
prediction when ``y_true`` holds the future frames. Only numpy is needed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from nfp_lib.validation import check_same_shape, check_video

PSNR_CAP = 100.0  # dB, the PSNR of a perfect prediction (where 10*log10(1/0) would be inf)

SSIM_WINDOW = 11  # skimage's default with gaussian_weights=True: 2 * int(3.5 * sigma + 0.5) + 1
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
UNIFORM_WINDOW = 7  # scikit-image's default window (and OpenSTL's SSIM)

ArrayLike = TypeVar("ArrayLike")  # a numpy array, or a torch or Keras tensor

# Images are processed in batches of about this many pixel values: small enough that a batch
# and its float64 temporaries stay in a core's cache. On a 2-core Xeon, one 64x64 sequence of 19
# frames at a time scored 500 of them 1.5x faster than batches of 4M values.
_CHUNK_VALUES = 1 << 16


def _check_pair(y_true: object, y_pred: object) -> tuple[np.ndarray, np.ndarray]:
    y_true = check_video(y_true, "y_true")
    y_pred = check_video(y_pred, "y_pred")
    check_same_shape(y_true, y_pred, ("y_true", "y_pred"))
    return y_true, y_pred


def _per_frame(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    per_image: Callable[[np.ndarray, np.ndarray], np.ndarray],
    count: int = 1,
) -> np.ndarray:
    """Apply ``per_image`` (``count`` values per image) to float64 chunks of sequences, at least
    one chunk per CPU core and one per core at once (numpy releases the GIL in its loops and
    matrix products); return the mean over sequences, ``(T,)`` or ``(T, count)``. Each image's
    value does not depend on the chunks."""
    n, t = y_true.shape[:2]
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    workers = len(cores) if cores else os.cpu_count() or 1
    chunk = max(1, min(_CHUNK_VALUES // (y_true[0].size), -(-n // workers)))
    values = np.empty((n, t, count), np.float64)

    def run(lo: int) -> None:
        a = y_true[lo : lo + chunk].astype(np.float64)
        b = y_pred[lo : lo + chunk].astype(np.float64)
        values[lo : lo + chunk] = per_image(a, b).reshape(len(a), t, count)

    starts = range(0, n, chunk)
    if len(starts) == 1:
        run(0)
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(run, starts))
    means = values.mean(axis=0)
    return means[:, 0] if count == 1 else means


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


def _psnr_from_mse(err: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.minimum(10.0 * np.log10(1.0 / err), PSNR_CAP)


def _psnr_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _psnr_from_mse(_mse_images(a, b))


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


def _window_matrix(size: int, weights: np.ndarray) -> np.ndarray:
    """``(size - k + 1, size)``: row ``i`` holds the ``k`` weights at columns ``i .. i + k - 1``,
    so multiplying a signal by it filters the signal where the window fits."""
    k = len(weights)
    rows = np.zeros((size - k + 1, size))
    for i in range(size - k + 1):
        rows[i, i : i + k] = weights
    return rows


def _local_means(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Window-weighted means over the H and W axes of ``x`` (N, T, H, W, C) where the window
    fits, as two matrix products (the separable filter; BLAS is faster than a convolution loop
    here). The result's axes are (N, T, C, W', H'): transposed images, which no average over
    pixels can tell apart."""
    x = np.moveaxis(x, -1, 2)  # (N, T, C, H, W)
    h, w = x.shape[-2:]
    x = x @ _window_matrix(w, weights).T  # filter along W
    return np.swapaxes(x, -1, -2) @ _window_matrix(h, weights).T  # then along H


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
    moments = (local_mean(x) for x in (a, b, a * a + b * b, a * b))
    return _ssim_from_moments(*moments, cov_norm)


def _ssim_from_moments(
    mu_a: ArrayLike,
    mu_b: ArrayLike,
    mean_squares: ArrayLike,
    mean_ab: ArrayLike,
    cov_norm: float = 1.0,
) -> ArrayLike:
    """SSIM from the local means of ``a``, ``b``, ``a*a + b*b`` and ``a*b`` (the variances
    enter only as their sum, so four filtered images suffice)."""
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_squares = mu_a**2 + mu_b**2
    variances = cov_norm * (mean_squares - mu_squares)
    cov = cov_norm * (mean_ab - mu_a * mu_b)
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_squares + c1) * (variances + c2))


def _uniform_window() -> np.ndarray:
    return np.full(UNIFORM_WINDOW, 1.0 / UNIFORM_WINDOW)


SAMPLE_COV = UNIFORM_WINDOW**2 / (UNIFORM_WINDOW**2 - 1)  # sample covariances of a 7x7 window


def _ssim_images(
    a: np.ndarray, b: np.ndarray, weights: np.ndarray, cov_norm: float, products: tuple = ()
) -> np.ndarray:
    """Mean SSIM per image ``(N, T)`` with a separable window; ``products`` may pass
    ``(a * a + b * b, a * b)`` when they are already computed."""
    products = products or (a * a + b * b, a * b)
    moments = (_local_means(x, weights) for x in (a, b, *products))
    return _ssim_from_moments(*moments, cov_norm).mean(axis=(2, 3, 4))


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
    return _per_frame(y_true, y_pred, lambda a, b: _ssim_images(a, b, gaussian_window(), 1.0))


def ssim_7x7(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """SSIM per frame ``(T,)`` as scikit-image computes it by default, and OpenSTL reports it:
    a 7x7 uniform window with sample covariances, K1 = 0.01, K2 = 0.03, data range 1, averaged
    over the pixels whose window lies inside the image (``skimage.metrics.structural_similarity(a,
    b, data_range=1)``). Its numbers are not :func:`ssim`'s: the small flat window scores
    black-on-black windows 1 as well, but a stroke near a miss lower, so compare like with like.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    _check_ssim_size(y_true)
    return _per_frame(
        y_true, y_pred, lambda a, b: _ssim_images(a, b, _uniform_window(), SAMPLE_COV)
    )


def _check_ssim_size(video: np.ndarray) -> None:
    h, w = video.shape[2:4]
    if min(h, w) < SSIM_WINDOW:
        raise ValueError(
            f"ssim: expected frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (the window), "
            f"got {h}x{w}"
        )


FRAME_METRICS = ("mse", "mae", "psnr", "ssim", "ssim_7x7", "mse_sum")


def _all_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Every metric of :data:`FRAME_METRICS` per image, ``(N, T, 6)``, sharing the squared
    error and the products the two SSIM windows filter."""
    diff = a - b
    sq = diff**2
    mse_img = sq.mean(axis=(2, 3, 4))
    products = (a * a + b * b, a * b)
    return np.stack(
        [
            mse_img,
            np.abs(diff).mean(axis=(2, 3, 4)),
            _psnr_from_mse(mse_img),
            _ssim_images(a, b, gaussian_window(), 1.0, products),
            _ssim_images(a, b, _uniform_window(), SAMPLE_COV, products),
            sq.sum(axis=(2, 3, 4)),
        ],
        axis=-1,
    )


def frame_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """All metrics per frame ``(T,)`` in one pass over the data: keys ``mse``, ``mae``,
    ``psnr``, ``ssim``, ``ssim_7x7`` and ``mse_sum`` (the same numbers as the single
    functions, to float rounding)."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    _check_ssim_size(y_true)
    values = _per_frame(y_true, y_pred, _all_images, len(FRAME_METRICS))
    return {name: values[:, i] for i, name in enumerate(FRAME_METRICS)}
