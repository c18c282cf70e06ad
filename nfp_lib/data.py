"""Moving MNIST: generate it offline, load the official file, split and shift sequences.

Every video here is a channels-last float32 array ``(N, T, H, W, C)`` with values in [0, 1].
"""

from __future__ import annotations

import functools
import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from nfp_lib.config import DIGIT_SOURCES, Config, TrainConfig
from nfp_lib.fileio import atomic_path
from nfp_lib.validation import check_positive_int, check_video, describe_error

MOVING_MNIST_URL = "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"
MOVING_MNIST_MD5 = "be083ec986bfe91a449d63653c411eb2"
MAX_CLIP_BYTES = 2**31  # a clip larger than this is refused before it is read
MAX_DATASET_BYTES = 2**34  # and a Moving MNIST file (the official one: 819 MB)
MOVING_MNIST_BYTES = 819_200_096  # shape (20, 10000, 64, 64) uint8, time first
MOVING_MNIST_FILE = "mnist_test_seq.npy"

DIGIT_SIZE = 28
SPEED_RANGE = (2.0, 5.0)  # pixels per frame
_CHUNK_FRAMES = 4096  # frames pasted per step, to keep temporaries small

# sklearn digits: 8x8 -> bicubic 20x20 (MNIST's digit box) centred in 28x28, then the
# contrast ramp below. It gives a mean intensity of 0.13 and ~20% ink pixels, as in MNIST.
_BOX = 20
_INK_LOW, _INK_HIGH = 0.3, 0.8
# "varied": each sklearn digit drawn this many ways (see _varied_digits).
_VARIANTS = 8
_WOBBLE = 15.0  # elastic distortion: smoothed noise times this, about a pixel rms


class DataUnavailableError(RuntimeError):
    """The data set is not on this machine and could not be downloaded."""


def load_digits(source: str = "sklearn") -> np.ndarray:
    """Handwritten digits as float32 ``(K, 28, 28)`` in [0, 1], white strokes on black.

    ``"sklearn"`` (default, offline): the 1797 8x8 digits that scikit-learn ships (UCI optical
    digits), upscaled bicubically to 20x20 and centred in 28x28 like MNIST, then
    contrast-normalised so strokes reach 1 and the background is exactly 0. Real handwriting,
    MNIST-like framing and ink density, and no download: the whole book runs offline with it.

    ``"varied"`` (offline): each of those digits drawn 8 ways, 14,376 in all, as handwriting
    varies: slanted, turned, widened or narrowed, its strokes bolder or thinner and elastically
    wobbled. The sklearn digits are narrower and rounder than MNIST's, and a model trained on
    them alone predicts real MNIST digits much worse than its own.

    ``"mnist"``: the 60,000 MNIST training digits via ``keras.datasets.mnist.load_data()``
    (needs a network or Keras's cached copy). When that fails this raises
    ``DataUnavailableError``; it never falls back silently.
    """
    if source not in DIGIT_SOURCES:
        raise ValueError(f"source: expected one of {DIGIT_SOURCES}, got {source!r}")
    make = {"sklearn": _sklearn_digits, "varied": _varied_digits, "mnist": _mnist_digits}
    return make[source]().copy()


def _smooth_sklearn_digits() -> np.ndarray:
    """The sklearn digits upscaled to 20x20, centred in 28x28, peak 1, before the ink ramp."""
    from sklearn.datasets import load_digits as sklearn_digits

    small = sklearn_digits().images.astype(np.float32) / 16.0
    big = np.stack(
        [np.asarray(Image.fromarray(im).resize((_BOX, _BOX), Image.BICUBIC)) for im in small]
    )
    big = np.clip(big, 0.0, None)
    big /= big.max(axis=(1, 2), keepdims=True)
    out = np.zeros((len(big), DIGIT_SIZE, DIGIT_SIZE), np.float32)
    start = (DIGIT_SIZE - _BOX) // 2
    out[:, start : start + _BOX, start : start + _BOX] = big
    return out


def _ink_ramp(grey: np.ndarray, low: float | np.ndarray, width: float) -> np.ndarray:
    """Strokes from a smooth grey digit: 0 below ``low``, 1 from ``low + width`` up."""
    return np.clip((grey - low) / width, 0.0, 1.0)


@functools.cache
def _sklearn_digits() -> np.ndarray:
    return _ink_ramp(_smooth_sklearn_digits(), _INK_LOW, _INK_HIGH - _INK_LOW)


@functools.cache
def _varied_digits() -> np.ndarray:
    """Each sklearn digit drawn ``_VARIANTS`` ways, with a fixed seed (see ``load_digits``).

    One bilinear resampling per digit maps every output pixel back through a random affine
    map (x scale 0.9-1.5, since MNIST's digits are a third wider; y scale 0.85-1.05; shear and
    rotation up to about 19 and 11 degrees) plus a smooth random displacement of about a pixel
    (elastic distortion, Simard et al., 2003); the ink ramp then starts at a random grey level
    (0.3-0.6, and rises over 0.3 instead of 0.5), for thinner or bolder strokes. Digits
    are re-centred on their centre of mass. About 2% come out faint (under 30 pixels above
    0.5, against 0.15% of MNIST's). ``big-masks-varied-torch`` trained on exactly these, so a
    change here is a new source, not an edit (a test pins them).
    """
    from scipy import ndimage

    grey = np.repeat(_smooth_sklearn_digits(), _VARIANTS, axis=0)
    k = len(grey)
    rng = np.random.default_rng(20261206)
    sx, sy = rng.uniform(0.9, 1.5, k), rng.uniform(0.85, 1.05, k)
    shear, turn = rng.uniform(-0.35, 0.35, k), rng.uniform(-0.2, 0.2, k)
    cos, sin = np.cos(turn), np.sin(turn)
    # forward map (x, y) -> rotation @ shear @ scale; sampling needs its inverse
    fwd = np.empty((k, 2, 2))
    fwd[:, 0, 0], fwd[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    fwd[:, 1, 0], fwd[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    inv = np.linalg.inv(fwd)
    c = (DIGIT_SIZE - 1) / 2
    y, x = np.mgrid[:DIGIT_SIZE, :DIGIT_SIZE].astype(np.float64) - c
    src_x = inv[:, 0, 0, None, None] * x + inv[:, 0, 1, None, None] * y + c
    src_y = inv[:, 1, 0, None, None] * x + inv[:, 1, 1, None, None] * y + c
    noise = rng.uniform(-1, 1, (2, k, DIGIT_SIZE, DIGIT_SIZE))
    noise = ndimage.gaussian_filter(noise, (0, 0, 4, 4))
    src_x += _WOBBLE * noise[0]
    src_y += _WOBBLE * noise[1]
    index = np.broadcast_to(np.arange(k, dtype=np.float64)[:, None, None], src_x.shape)
    warped = ndimage.map_coordinates(grey, [index, src_y, src_x], order=1, cval=0.0)
    out = _ink_ramp(warped, rng.uniform(0.3, 0.6, (k, 1, 1)), 0.3).astype(np.float32)
    for i, glyph in enumerate(out):  # centre of mass to the middle, whole pixels
        cy, cx = ndimage.center_of_mass(glyph)
        out[i] = ndimage.shift(glyph, (round(c - cy), round(c - cx)), order=0, cval=0.0)
    return out


@functools.cache
def _mnist_digits() -> np.ndarray:
    try:
        import keras

        (images, _), _ = keras.datasets.mnist.load_data()
    except Exception as err:  # Keras raises a bare Exception("URL fetch failure ...") offline
        raise DataUnavailableError(
            f"MNIST could not be downloaded ({err}); use the offline digits with "
            'digits="sklearn" instead'
        ) from err
    return np.asarray(images, np.float32) / 255.0


def _digit_array(digits: str | np.ndarray) -> np.ndarray:
    """Resolve ``digits`` (a source name or an array) to float32 ``(K, 28, 28)`` in [0, 1]."""
    if isinstance(digits, str):
        return load_digits(digits)
    if not isinstance(digits, np.ndarray):
        raise ValueError(
            f"digits: expected 'sklearn', 'varied', 'mnist' or an array (K, 28, 28), got "
            f"{type(digits).__name__}"
        )
    if digits.ndim != 3 or digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or len(digits) == 0:
        raise ValueError(f"digits: expected an array (K, 28, 28) with K >= 1, got {digits.shape}")
    if digits.dtype == np.uint8:
        return digits.astype(np.float32) / 255.0
    if not np.issubdtype(digits.dtype, np.floating):
        raise ValueError(f"digits: expected uint8 (0-255) or floats in [0, 1], got {digits.dtype}")
    if not np.isfinite(digits).all():
        raise ValueError("digits: expected finite values, got NaN or inf")
    if digits.min() < 0 or digits.max() > 1:
        raise ValueError(
            f"digits: expected floats in [0, 1], got range [{digits.min():.4g}, {digits.max():.4g}]"
        )
    return digits.astype(np.float32)


def _bounce(start: np.ndarray, velocity: np.ndarray, num_frames: int, limit: int) -> np.ndarray:
    """Integer positions ``(..., T)`` of points moving at ``velocity`` inside [0, limit].

    Reflecting the velocity at each wall is the same as folding the straight path
    ``start + velocity * t`` with a triangle wave of period ``2 * limit``, so all frames of all
    sequences are computed at once.
    """
    if limit == 0:
        return np.zeros((*start.shape, num_frames), np.int64)
    free = start[..., None] + velocity[..., None] * np.arange(num_frames)
    folded = limit - np.abs(np.mod(free, 2 * limit) - limit)
    return np.rint(folded).astype(np.int64)


def generate_moving_mnist(
    num_sequences: int,
    num_frames: int = 20,
    size: int = 64,
    num_digits: int = 2,
    seed: int = 0,
    digits: str | np.ndarray = "sklearn",
) -> np.ndarray:
    """Draw Moving MNIST videos, float32 ``(N, T, size, size, 1)`` in [0, 1].

    As in Srivastava et al. (2015): ``num_digits`` 28x28 digits start at random positions on a
    black ``size`` x ``size`` canvas with a random direction and a speed of 2-5 pixels per frame,
    bounce off the edges (positions rounded to whole pixels), and overlap by pixel-wise maximum.
    All sequences are drawn at once, without a Python loop over them. ``digits`` is ``"sklearn"``
    (offline), ``"mnist"`` or an array ``(K, 28, 28)`` (uint8 or floats in [0, 1]). The same
    ``seed`` gives bit-identical videos.
    """
    n = check_positive_int(num_sequences, "num_sequences")
    t = check_positive_int(num_frames, "num_frames")
    size = check_positive_int(size, "size", minimum=DIGIT_SIZE)
    d = check_positive_int(num_digits, "num_digits")
    seed = check_positive_int(seed, "seed", minimum=0)
    glyphs = _digit_array(digits)

    rng = np.random.default_rng(seed)
    limit = size - DIGIT_SIZE
    which = rng.integers(0, len(glyphs), size=(n, d))
    start = rng.uniform(0, limit, size=(n, d, 2))
    angle = rng.uniform(0, 2 * np.pi, size=(n, d))
    speed = rng.uniform(*SPEED_RANGE, size=(n, d))
    velocity = speed[..., None] * np.stack([np.sin(angle), np.cos(angle)], axis=-1)
    pos = _bounce(start, velocity, t, limit)  # (n, d, 2, t): row then column

    out = np.zeros((n, t, size, size, 1), np.float32)
    frames = out[..., 0]
    # Every 28x28 window of every frame, as a writable view: windows[i, j, y, x] is the patch
    # whose top-left corner is (y, x) in frame j of sequence i.
    s = frames.strides
    windows = np.lib.stride_tricks.as_strided(
        frames,
        shape=(n, t, limit + 1, limit + 1, DIGIT_SIZE, DIGIT_SIZE),
        strides=(s[0], s[1], s[2], s[3], s[2], s[3]),
    )
    chunk = max(1, _CHUNK_FRAMES // t)
    frame_idx = np.arange(t)[None, :]
    for lo in range(0, n, chunk):
        ids = np.arange(lo, min(lo + chunk, n))
        for k in range(d):
            at = (ids[:, None], frame_idx, pos[ids, k, 0], pos[ids, k, 1])  # (chunk, T, 28, 28)
            windows[at] = np.maximum(windows[at], glyphs[which[ids, k]][:, None])
    return out


def default_cache_dir() -> Path:
    """Where downloads go: ``$NFP_CACHE`` when set, else ``~/.cache/nfp``."""
    return Path(os.environ.get("NFP_CACHE") or Path.home() / ".cache" / "nfp")


def file_md5(path: str | Path) -> str:
    """The hex MD5 digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_moving_mnist(
    path: str | Path | None = None,
    download: bool = False,
    cache_dir: str | Path | None = None,
    md5: str | None = MOVING_MNIST_MD5,
) -> np.ndarray:
    """The official Moving MNIST test set as float32 ``(10000, 20, 64, 64, 1)`` in [0, 1].

    Reads ``path`` when given, else ``mnist_test_seq.npy`` in ``cache_dir`` (default
    ``$NFP_CACHE`` or ``~/.cache/nfp``). A missing file is downloaded from
    ``MOVING_MNIST_URL`` only when ``download=True`` (800 MB; written atomically, so a failed
    download leaves nothing behind). The file's MD5 must equal ``md5``; pass ``md5=None`` to
    skip the check (e.g. for your own smaller files of the same time-first uint8 format).
    Offline, use ``generate_moving_mnist`` instead.
    """
    if path is None:
        path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        path = path / MOVING_MNIST_FILE
        if not path.exists():
            if not download:
                raise DataUnavailableError(
                    f"Moving MNIST is not in {path}: pass download=True to fetch it from "
                    f"{MOVING_MNIST_URL} (800 MB), or generate sequences offline with "
                    "generate_moving_mnist()"
                )
            _download(path, md5)
            md5 = None  # just verified
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Moving MNIST file not found: {path}")
    if md5 is not None:
        got = file_md5(path)
        if got != md5:
            raise ValueError(
                f"{path}: expected MD5 {md5}, got {got} (truncated or corrupted file? delete it "
                "and download again, or pass md5=None for your own file)"
            )
    _npy_header(path, MAX_DATASET_BYTES)
    try:
        raw = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable .npy file ({describe_error(err)})") from err
    if raw.dtype != np.uint8 or raw.ndim != 4:
        raise ValueError(
            f"{path}: expected uint8 frames (T, N, H, W), time first, got dtype {raw.dtype} "
            f"and shape {raw.shape}"
        )
    num_frames, num_seq, height, width = raw.shape
    out = np.empty((num_seq, num_frames, height, width, 1), np.float32)
    np.divide(np.swapaxes(raw, 0, 1), np.float32(255.0), out=out[..., 0])
    return out


def _download(path: Path, md5: str | None) -> None:
    """Fetch ``MOVING_MNIST_URL`` to ``path`` atomically, checking its MD5 when given."""
    try:
        with atomic_path(path) as tmp, urllib.request.urlopen(MOVING_MNIST_URL, timeout=60) as r:
            digest = hashlib.md5()
            with open(tmp, "wb") as f:
                for block in iter(lambda: r.read(1 << 20), b""):
                    digest.update(block)
                    f.write(block)
            if md5 is not None and digest.hexdigest() != md5:
                raise ValueError(
                    f"{MOVING_MNIST_URL}: expected MD5 {md5}, got {digest.hexdigest()} "
                    "(interrupted download?); nothing was saved"
                )
    except OSError as err:  # urllib.error.URLError, timeouts, HTTP errors, a full disk
        raise DataUnavailableError(
            f"could not download Moving MNIST from {MOVING_MNIST_URL} ({err}); nothing was "
            "saved. Generate sequences offline with generate_moving_mnist() instead"
        ) from err


def load_video(path: str | Path) -> np.ndarray:
    """One clip from a ``.npy`` or ``.gif`` file as float32 ``(1, T, H, W, 1)`` in [0, 1].

    ``.npy``: shape ``(T, H, W)``, ``(T, H, W, 1)`` or ``(1, T, H, W, 1)``, uint8 (0-255) or
    floats in [0, 1]. ``.gif``: every frame, converted to grayscale.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".gif"):
        raise ValueError(f"{path}: expected a .npy or .gif file, got suffix {suffix!r}")
    if not path.is_file():
        raise ValueError(f"{path}: expected a {suffix} file, got " + _what_is(path))
    clip = _read_npy(path) if suffix == ".npy" else _read_gif(path)
    if clip.ndim == 3:
        clip = clip[..., None]
    if clip.ndim == 4:
        clip = clip[None]
    if clip.ndim != 5 or clip.shape[0] != 1 or clip.shape[-1] != 1:
        raise ValueError(
            f"{path}: expected one grayscale clip (T, H, W), (T, H, W, 1) or (1, T, H, W, 1), "
            f"got shape {clip.shape}"
        )
    if clip.dtype == np.uint8:
        clip = clip.astype(np.float32) / 255.0
    clip = check_video(clip, str(path), channels=1)
    return clip.astype(np.float32, copy=False)


def _what_is(path: Path) -> str:
    if path.is_dir():
        return "a directory"
    return "not a regular file" if path.exists() else "no such file"


def _npy_header(path: Path, max_bytes: int) -> np.dtype:
    """The dtype a ``.npy`` file declares, its header read and checked (at most ``max_bytes`` of
    data, all of them in the file) before any data is read."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read_header(f)
            data_start = f.tell()
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path}: not a readable .npy file ({describe_error(err)})") from None
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > max_bytes:
        raise ValueError(
            f"{path}: its header declares {size / 2**30:.1f} GiB of shape {shape}, expected at "
            f"most {max_bytes / 2**30:.0f} GiB"
        )
    if path.stat().st_size < data_start + size:
        raise ValueError(
            f"{path}: truncated: {path.stat().st_size - data_start} of {size} data bytes"
        )
    return dtype


def _read_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array of numbers, its header checked before anything large is read."""
    dtype = _npy_header(path, MAX_CLIP_BYTES)
    if dtype.kind not in "uif":
        raise ValueError(f"{path}: expected uint8 or float frames, got dtype {dtype}")
    return np.load(path, allow_pickle=False)


def _read_gif(path: Path) -> np.ndarray:
    """Every frame of a GIF as uint8 grayscale ``(T, H, W)``; its size is checked first."""
    import imageio.v3 as iio

    with open(path, "rb") as f:
        magic = f.read(6)
    if magic not in (b"GIF87a", b"GIF89a"):
        raise ValueError(f"{path}: not a GIF file (it starts with {magic!r})")
    try:
        with Image.open(path) as image:
            frames, (width, height) = getattr(image, "n_frames", 1), image.size
        if frames * width * height * 4 > MAX_CLIP_BYTES:  # decoded as RGBA
            raise ValueError(
                f"{frames} frames of {width}x{height} pixels, expected at most "
                f"{MAX_CLIP_BYTES / 2**30:.0f} GiB of them"
            )
        clip = np.asarray(iio.imread(path, index=None))
    except Exception as err:  # Pillow raises many kinds for a damaged file
        raise ValueError(f"{path}: not a readable GIF ({describe_error(err)})") from None
    if clip.ndim == 4:  # (T, H, W, RGB[A]) -> luminance
        clip = clip[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        clip = np.clip(np.rint(clip), 0, 255).astype(np.uint8)
    return clip


def split_sequences(
    data: np.ndarray, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle sequences with ``seed`` and cut them into disjoint train, validation, test sets."""
    data = check_video(data, "data")
    seed = check_positive_int(seed, "seed", minimum=0)
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.shape != (3,) or not np.isfinite(fr).all() or (fr <= 0).any():
        raise ValueError(f"fractions: expected three positive numbers, got {fractions!r}")
    if abs(fr.sum() - 1.0) > 1e-6:
        raise ValueError(f"fractions: expected a sum of 1, got {fr.sum():.6g}")
    n = len(data)
    bounds = np.rint(np.cumsum(fr) * n).astype(int)
    bounds[-1] = n
    sizes = np.diff(bounds, prepend=0)
    if (sizes < 1).any():
        raise ValueError(
            f"fractions {tuple(fractions)} of {n} sequences give parts of sizes {tuple(sizes)}: "
            "expected at least one sequence in each"
        )
    order = np.random.default_rng(seed).permutation(n)
    train, val, test = np.split(order, bounds[:2])
    return data[train], data[val], data[test]


def shift_frames(video: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-frame targets: ``x`` is frames 0..T-2, ``y`` is frames 1..T-1."""
    video = check_video(video, "video", min_frames=2)
    return video[:, :-1], video[:, 1:]


def split_context(
    video: np.ndarray, context: int = 10, horizon: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``context`` frames (seen) and the next ``horizon`` frames (to predict).

    ``horizon=None`` takes every remaining frame.
    """
    video = check_video(video, "video")
    context = check_positive_int(context, "context")
    total = video.shape[1]
    if context >= total:
        raise ValueError(
            f"context: expected fewer than the {total} frames of the sequence so that some "
            f"remain to predict, got {context}"
        )
    if horizon is None:
        horizon = total - context
    horizon = check_positive_int(horizon, "horizon")
    if context + horizon > total:
        raise ValueError(
            f"horizon: the sequence has {total} frames, so after {context} seen frames at most "
            f"{total - context} remain to predict, got horizon {horizon}"
        )
    return video[:, :context], video[:, context : context + horizon]


def check_training_data(video: np.ndarray | None, name: str, config: Config) -> np.ndarray | None:
    """Videos given to either backend's ``fit`` as float32, checked the same way for both:
    ``config``'s channels and ``image_size`` frames, at least 2 of them; None stays None."""
    if video is None:
        return None
    video = check_video(video, name, channels=config.model.channels, min_frames=2)
    size = config.train.image_size
    if video.shape[2:4] != (size, size):
        raise ValueError(
            f"{name}: expected {size}x{size} frames (train.image_size), "
            f"got {video.shape[2]}x{video.shape[3]}"
        )
    return video.astype(np.float32, copy=False)


def training_sequences(config: TrainConfig, split: str, epoch: int = 1) -> np.ndarray:
    """The generated sequences a training run of ``config`` uses, the same in both backends.

    ``split`` is ``"train"`` or ``"val"``. Training data for ``epoch`` (counted from 1) is drawn
    afresh each epoch when ``config.fresh_data`` is set, else epoch 1's set every time;
    validation data never changes. Each is seeded from ``config.seed``, the split and the epoch.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    check_positive_int(epoch, "epoch")
    if split == "val":
        part, num, epoch = 1, config.num_val, 0
    else:
        part, num, epoch = 0, config.num_train, epoch if config.fresh_data else 1
    seeds = np.random.SeedSequence([config.seed, part, epoch]).generate_state(2)
    video = generate_moving_mnist(
        num,
        num_frames=config.num_frames,
        size=config.image_size,
        seed=int(seeds[0]),
        digits=config.digits,
    )
    return mirror_randomly(video, int(seeds[1])) if config.mirror and part == 0 else video


def mirror_randomly(video: np.ndarray, seed: int) -> np.ndarray:
    """Each sequence of ``video`` (N, T, H, W, C) as it is, mirrored left to right, upside down,
    or both: one of the four at random, from ``seed``. Returns a new array."""
    video = check_video(video, "video")
    flips = np.random.default_rng(seed).integers(0, 4, size=len(video))
    out = video.copy()
    left_right, upside_down = flips % 2 == 1, flips >= 2
    out[left_right] = out[left_right][:, :, :, ::-1]
    out[upside_down] = out[upside_down][:, :, ::-1]
    return out
