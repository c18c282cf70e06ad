"""Input checks shared by every public function: clear ``ValueError``s, never silent fixes."""

from __future__ import annotations

import sys
from collections.abc import Iterable

import numpy as np


def check_video(
    x: object,
    name: str = "x",
    channels: int | None = None,
    min_frames: int = 1,
) -> np.ndarray:
    """Check that ``x`` is a batch of videos ``(N, T, H, W, C)`` of finite floats in [0, 1].

    Returns ``x`` as a numpy array (no copy when it already is one). Raises a ``ValueError``
    that says what was expected and what came.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ValueError(f"{name}: expected an array (N, T, H, W, C), got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.ndim != 5:
        raise ValueError(
            f"{name}: expected 5 dimensions (N, T, H, W, C), got {arr.ndim} with shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(
            f"{name}: expected floating-point values in [0, 1], got dtype {arr.dtype} "
            "(divide uint8 frames by 255)"
        )
    if channels is not None and arr.shape[-1] != channels:
        raise ValueError(
            f"{name}: expected {channels} channel(s) in the last axis (channels-last), "
            f"got {arr.shape[-1]} with shape {arr.shape}"
        )
    if arr.shape[1] < min_frames:
        raise ValueError(f"{name}: expected at least {min_frames} frames, got {arr.shape[1]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite values, got NaN or inf")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: expected values in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    return arr


def check_same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise a ``ValueError`` when two arrays differ in shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]}: expected equal shapes, got {a.shape} and {b.shape}"
        )


def check_finite_weights(weights: Iterable[np.ndarray], name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` when any weight array holds NaN or infinity."""
    if not all(np.isfinite(w).all() for w in weights):
        raise ValueError(
            f"{name}: expected finite weights, got NaN or inf (a damaged file, or a training "
            "that diverged)"
        )


def progress_bar(total: int, shown: bool):
    """A tqdm bar on stderr counting ``total`` predicted frames; only on a terminal, and only
    when ``shown``."""
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", file=sys.stderr, disable=None if shown else True)


def describe_error(err: BaseException) -> str:
    """One line about ``err``: an OS error's reason, else the first sentence of its message."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    lines = str(err).strip().splitlines()
    if not lines:
        return type(err).__name__
    end = lines[0].find(". ", 40)
    line = lines[0][: end + 1] if end > 0 else lines[0]
    return line if len(line) <= 300 else line[:297] + "..."


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int when it is an integer >= ``minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)
