import hashlib
import io
import sys
import types
import urllib.error
import urllib.request

import numpy as np
import pytest

from nfp_lib import data
from nfp_lib.data import (
    MOVING_MNIST_URL,
    DataUnavailableError,
    generate_moving_mnist,
    load_digits,
    load_moving_mnist,
    load_video,
    shift_frames,
    split_context,
    split_sequences,
)


def _video(n=2, t=6, h=8, w=8, c=1, seed=0):
    return np.random.default_rng(seed).random((n, t, h, w, c), dtype=np.float32)


# --- digits -------------------------------------------------------------------------------------


def test_sklearn_digits_look_like_mnist():
    digits = load_digits()
    assert digits.shape == (1797, 28, 28)
    assert digits.dtype == np.float32
    assert digits.min() == 0.0
    np.testing.assert_allclose(digits.max(axis=(1, 2)), 1.0)
    # a 20x20 box centred in 28x28, as MNIST frames its digits
    assert not digits[:, :4].any() and not digits[:, -4:].any()
    assert not digits[:, :, :4].any() and not digits[:, :, -4:].any()
    assert 0.08 < digits.mean() < 0.2  # MNIST's mean intensity is 0.13


def _ink_width(digits):
    columns = (digits > 0.5).any(axis=1)
    return np.array([np.ptp(np.flatnonzero(c)) for c in columns if c.any()]).mean()


def test_varied_digits_are_the_sklearn_digits_redrawn():
    plain, varied = load_digits("sklearn"), load_digits("varied")
    assert varied.shape == (8 * len(plain), 28, 28) and varied.dtype == np.float32
    assert varied.min() == 0.0 and varied.max() == 1.0
    np.testing.assert_array_equal(varied, load_digits("varied"))  # fixed seed
    assert 0.1 < varied.mean() < 0.16  # MNIST's 0.13
    # MNIST's digits are wider than the sklearn ones (ink about 14 pixels wide against 10)
    assert _ink_width(varied) > 1.2 * _ink_width(plain)
    # every drawing differs from its source and from its siblings
    drawings = varied.reshape(len(plain), 8, 28, 28)
    assert (np.abs(drawings - plain[:, None]).max(axis=(2, 3)) > 0.5).all()
    assert (np.abs(drawings[:, 1:] - drawings[:, :1]).max(axis=(2, 3)) > 0.5).all()
    # centred on their centre of mass, and inside the 28x28 box
    rows = (varied.sum(axis=2) * np.arange(28)).sum(axis=1) / varied.sum(axis=(1, 2))
    cols = (varied.sum(axis=1) * np.arange(28)).sum(axis=1) / varied.sum(axis=(1, 2))
    assert np.abs(rows - 13.5).max() <= 1.5 and np.abs(cols - 13.5).max() <= 1.5
    assert varied[:, [0, -1]].mean() < 1e-3 and varied[:, :, [0, -1]].mean() < 1e-3
    # big-masks-varied-torch trained on exactly these: its preset must still reproduce them
    ink = varied.reshape(len(varied), -1).sum(axis=1)
    np.testing.assert_allclose(ink[[0, 5000, 14375]], [51.9258, 97.4810, 145.3245], rtol=1e-4)
    np.testing.assert_allclose(varied.sum(), 1475187.75, rtol=1e-5)


def test_load_digits_returns_a_fresh_copy():
    first = load_digits()
    first[:] = 0.5
    assert load_digits().min() == 0.0


def test_load_digits_rejects_unknown_source():
    with pytest.raises(ValueError, match="expected one of"):
        load_digits("emnist")


def _fake_keras(monkeypatch, load_data):
    fake = types.SimpleNamespace(datasets=types.SimpleNamespace(mnist=types.SimpleNamespace()))
    fake.datasets.mnist.load_data = load_data
    monkeypatch.setitem(sys.modules, "keras", fake)


@pytest.fixture
def clear_mnist_cache():
    data._mnist_digits.cache_clear()
    yield
    data._mnist_digits.cache_clear()


def test_mnist_offline_raises_data_unavailable(monkeypatch, clear_mnist_cache):
    def offline():
        raise Exception("URL fetch failure on https://storage.googleapis.com/mnist.npz")

    _fake_keras(monkeypatch, offline)
    with pytest.raises(
        DataUnavailableError, match='MNIST could not be downloaded.*digits="sklearn"'
    ):
        load_digits("mnist")
    with pytest.raises(DataUnavailableError):
        generate_moving_mnist(2, num_frames=3, size=32, digits="mnist")
    assert issubclass(DataUnavailableError, RuntimeError)


def test_mnist_digits_are_scaled_to_unit_range(monkeypatch, clear_mnist_cache):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    _fake_keras(monkeypatch, lambda: ((images, None), (None, None)))
    digits = load_digits("mnist")
    assert digits.dtype == np.float32
    np.testing.assert_allclose(digits, images / 255.0, rtol=1e-6)


# --- generated Moving MNIST ---------------------------------------------------------------------


def test_generate_shape_dtype_range():
    video = generate_moving_mnist(3, num_frames=5, size=40, num_digits=2, seed=1)
    assert video.shape == (3, 5, 40, 40, 1)
    assert video.dtype == np.float32
    assert video.min() == 0.0 and video.max() == 1.0
    assert (video.reshape(3, 5, -1) > 0).any(axis=-1).all()  # every frame shows ink


def test_generate_is_reproducible_per_seed():
    a = generate_moving_mnist(4, num_frames=6, size=32, seed=7)
    b = generate_moving_mnist(4, num_frames=6, size=32, seed=7)
    c = generate_moving_mnist(4, num_frames=6, size=32, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_does_not_depend_on_chunking(monkeypatch):
    whole = generate_moving_mnist(7, num_frames=5, size=32, seed=3)
    monkeypatch.setattr(data, "_CHUNK_FRAMES", 10)  # chunks of 2 sequences
    assert np.array_equal(generate_moving_mnist(7, num_frames=5, size=32, seed=3), whole)


def _boxes(video):
    """Top-left corner (row, col) of the single bright 28x28 square in every frame."""
    frames = video[..., 0]
    rows = frames.any(axis=3).argmax(axis=2)
    cols = frames.any(axis=2).argmax(axis=2)
    return rows, cols


def test_square_digit_moves_with_bounded_speed_and_bounces():
    square = np.ones((1, 28, 28), np.float32)
    video = generate_moving_mnist(50, num_frames=30, size=48, num_digits=1, seed=0, digits=square)
    # exactly one whole 28x28 square per frame, always inside the canvas
    np.testing.assert_array_equal(video.sum(axis=(2, 3, 4)), 28 * 28)
    rows, cols = _boxes(video)
    assert rows.min() >= 0 and rows.max() <= 48 - 28
    step = np.hypot(np.diff(rows, axis=1), np.diff(cols, axis=1))
    assert step.max() <= 5 + np.sqrt(2)  # 2-5 px/frame plus rounding
    assert np.median(step) >= 2 - np.sqrt(2)

    # >= 2 px/frame for 29 steps is >= 41 px along one axis in a 20 px range: all turn back
    def turns(p):
        steps = np.diff(p, axis=1)
        return (steps > 0).any(axis=1) & (steps < 0).any(axis=1)

    assert (turns(rows) | turns(cols)).all()


def _simulate(start, velocity, num_frames, limit):
    """Step-by-step reference: move, and reflect position and velocity at the walls."""
    pos, vel, out = float(start), float(velocity), []
    for _ in range(num_frames):
        out.append(pos)
        pos += vel
        while pos < 0 or pos > limit:
            if pos < 0:
                pos, vel = -pos, -vel
            if pos > limit:
                pos, vel = 2 * limit - pos, -vel
    return np.array(out)


def test_bounce_matches_step_by_step_reflection():
    rng = np.random.default_rng(0)
    limit, frames = 36, 40
    start = rng.uniform(0, limit, 200)
    velocity = rng.uniform(-5, 5, 200)
    got = data._bounce(start, velocity, frames, limit)
    want = np.stack([_simulate(s, v, frames, limit) for s, v in zip(start, velocity, strict=True)])
    assert np.abs(got - want).max() <= 0.5 + 1e-9  # rounding of the exact path
    assert got.min() == 0 and got.max() == limit


def test_overlapping_digits_combine_by_maximum():
    glyphs = np.stack([np.full((28, 28), 0.4), np.full((28, 28), 0.5)]).astype(np.float32)
    video = generate_moving_mnist(20, num_frames=10, size=40, num_digits=3, digits=glyphs)
    assert set(np.unique(video)) == {0.0, np.float32(0.4), np.float32(0.5)}


def test_canvas_of_digit_size_keeps_digits_still():
    glyph = np.random.default_rng(0).integers(0, 256, (1, 28, 28), dtype=np.uint8)
    video = generate_moving_mnist(2, num_frames=4, size=28, num_digits=1, digits=glyph)
    np.testing.assert_allclose(video[..., 0], np.broadcast_to(glyph[0] / 255.0, (2, 4, 28, 28)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_sequences": 0}, "num_sequences"),
        ({"num_sequences": 2.0}, "num_sequences"),
        ({"num_frames": 0}, "num_frames"),
        ({"size": 27}, "size: expected an integer >= 28"),
        ({"num_digits": 0}, "num_digits"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"digits": "fashion"}, "expected one of"),
        ({"digits": [[0.0] * 28] * 28}, "digits: expected"),
        ({"digits": np.zeros((28, 28), np.float32)}, r"\(K, 28, 28\)"),
        ({"digits": np.zeros((0, 28, 28), np.float32)}, r"\(K, 28, 28\)"),
        ({"digits": np.zeros((2, 28, 27), np.float32)}, r"\(K, 28, 28\)"),
        ({"digits": np.zeros((2, 28, 28), np.int16)}, "uint8"),
        ({"digits": np.full((2, 28, 28), 1.5, np.float32)}, r"\[0, 1\]"),
        ({"digits": np.full((2, 28, 28), np.nan, np.float32)}, "finite"),
    ],
)
def test_generate_rejects_bad_arguments(kwargs, match):
    args = {"num_sequences": 2, "num_frames": 3, "size": 32} | kwargs
    with pytest.raises(ValueError, match=match):
        generate_moving_mnist(**args)


# --- the official Moving MNIST file ---------------------------------------------------------


def _write_moving_mnist(path, shape=(20, 6, 64, 64), seed=0):
    raw = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    np.save(path, raw)
    return raw, hashlib.md5(path.read_bytes()).hexdigest()


def test_load_moving_mnist_from_path(tmp_path):
    raw, md5 = _write_moving_mnist(tmp_path / "mm.npy")
    video = load_moving_mnist(tmp_path / "mm.npy", md5=md5)
    assert video.shape == (6, 20, 64, 64, 1)
    assert video.dtype == np.float32
    np.testing.assert_allclose(video[..., 0], np.swapaxes(raw, 0, 1) / 255.0, rtol=1e-6)


def test_load_moving_mnist_checks_md5(tmp_path):
    _write_moving_mnist(tmp_path / "mm.npy")
    with pytest.raises(ValueError, match=r"mm\.npy: expected MD5 0{32}, got [0-9a-f]{32}"):
        load_moving_mnist(tmp_path / "mm.npy", md5="0" * 32)
    # the default is the official checksum
    with pytest.raises(ValueError, match=data.MOVING_MNIST_MD5):
        load_moving_mnist(tmp_path / "mm.npy")


def test_load_moving_mnist_rejects_truncated_and_wrong_files(tmp_path):
    path = tmp_path / "mm.npy"
    _write_moving_mnist(path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match=r"mm\.npy: truncated: \d+ of \d+ data bytes"):
        load_moving_mnist(path, md5=None)
    np.save(path, np.zeros((20, 2, 8, 8), np.float32))
    with pytest.raises(ValueError, match="expected uint8"):
        load_moving_mnist(path, md5=None)
    np.save(path, np.zeros((20, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"time first, got dtype uint8 and shape \(20, 8, 8\)"):
        load_moving_mnist(path, md5=None)
    with pytest.raises(FileNotFoundError):
        load_moving_mnist(tmp_path / "missing.npy", md5=None)


def test_missing_cache_without_download_says_what_to_do(tmp_path):
    with pytest.raises(DataUnavailableError) as info:
        load_moving_mnist(cache_dir=tmp_path)
    message = str(info.value)
    assert MOVING_MNIST_URL in message
    assert "download=True" in message
    assert "generate_moving_mnist" in message


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    raw, md5 = _write_moving_mnist(tmp_path / "mnist_test_seq.npy", shape=(4, 3, 64, 64))
    monkeypatch.setenv("NFP_CACHE", str(tmp_path))
    video = load_moving_mnist(md5=md5)
    assert video.shape == (3, 4, 64, 64, 1)


def _serve(monkeypatch, payload=None, error=None, fail_after=None):
    calls = []

    class Response(io.BytesIO):
        def read(self, size=-1):
            if fail_after is not None and self.tell() >= fail_after:
                raise TimeoutError("connection reset")
            return super().read(size)

    def urlopen(url, timeout=None):
        calls.append(url)
        if error is not None:
            raise error
        return Response(payload)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


def test_download_verifies_and_caches(tmp_path, monkeypatch):
    source = tmp_path / "source.npy"
    raw, md5 = _write_moving_mnist(source, shape=(20, 30, 64, 64))  # > 1 MiB: several blocks
    calls = _serve(monkeypatch, payload=source.read_bytes())
    cache = tmp_path / "cache"
    video = load_moving_mnist(download=True, cache_dir=cache, md5=md5)
    assert calls == [MOVING_MNIST_URL]
    assert video.shape == (30, 20, 64, 64, 1)
    assert [p.name for p in cache.iterdir()] == ["mnist_test_seq.npy"]
    # now cached: no second download
    assert np.array_equal(load_moving_mnist(download=True, cache_dir=cache, md5=md5), video)
    assert len(calls) == 1


def test_download_with_wrong_md5_leaves_nothing(tmp_path, monkeypatch):
    source = tmp_path / "source.npy"
    _write_moving_mnist(source)
    _serve(monkeypatch, payload=source.read_bytes())
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="expected MD5"):
        load_moving_mnist(download=True, cache_dir=cache, md5="0" * 32)
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize(
    "server",
    [
        {"error": urllib.error.URLError("Name or service not known")},
        {"payload": b"\x93NUMPY" + bytes(3_000_000), "fail_after": 1 << 20},
    ],
    ids=["offline", "interrupted"],
)
def test_failed_download_raises_at_once_and_leaves_nothing(tmp_path, monkeypatch, server):
    _serve(monkeypatch, **server)
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailableError, match="generate_moving_mnist"):
        load_moving_mnist(download=True, cache_dir=cache)
    assert list(cache.iterdir()) == []


# --- single clips -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 16, 12), (5, 16, 12, 1), (1, 5, 16, 12, 1)])
def test_load_video_npy_shapes(tmp_path, shape):
    raw = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "clip.npy", raw)
    clip = load_video(tmp_path / "clip.npy")
    assert clip.shape == (1, 5, 16, 12, 1)
    assert clip.dtype == np.float32
    np.testing.assert_allclose(clip.ravel(), raw.ravel() / 255.0, rtol=1e-6)
    np.save(tmp_path / "clip.npy", raw / 255.0)  # float64 in [0, 1]
    np.testing.assert_allclose(load_video(tmp_path / "clip.npy").ravel(), raw.ravel() / 255.0)


def test_load_video_gif_is_grayscale(tmp_path):
    from nfp_lib.viz import save_gif

    frames = generate_moving_mnist(1, num_frames=4, size=32, seed=2)[0]
    save_gif(frames, tmp_path / "clip.gif", scale=1)
    clip = load_video(tmp_path / "clip.gif")
    assert clip.shape == (1, 4, 32, 32, 1)
    np.testing.assert_allclose(clip[0], frames, atol=1.5 / 255)


def test_load_video_rgb_gif(tmp_path):
    import imageio.v3 as iio

    rgb = np.zeros((3, 8, 8, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luminance 0.587
    rgb[1, :4] = 255  # half white in the middle frame
    iio.imwrite(tmp_path / "c.gif", rgb, extension=".gif", loop=0)
    clip = load_video(tmp_path / "c.gif")
    assert clip.shape == (1, 3, 8, 8, 1)
    np.testing.assert_allclose(clip[0, 0], np.round(0.587 * 255) / 255, atol=1 / 255)
    np.testing.assert_allclose(clip[0, 1, :4], 1.0)


@pytest.mark.parametrize(
    "array, match",
    [
        (np.zeros((2, 5, 8, 8, 1), np.float32), "one grayscale clip"),
        (np.zeros((5, 8, 8, 3), np.float32), "one grayscale clip"),
        (np.zeros((8, 8), np.float32), "one grayscale clip"),
        (np.zeros((5, 8, 8), np.int16), "floating-point"),
        (np.full((5, 8, 8), 2.0), r"\[0, 1\]"),
        (np.full((5, 8, 8), np.nan), "finite"),
        (np.zeros((0, 8, 8), np.float32), "non-empty"),
    ],
)
def test_load_video_rejects_bad_arrays(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ValueError, match=match):
        load_video(tmp_path / "bad.npy")


def test_load_video_rejects_other_formats(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(ValueError, match=r"expected a .npy or .gif file, got suffix '.mp4'"):
        load_video(tmp_path / "clip.mp4")


# --- splitting ----------------------------------------------------------------------------------


def test_split_sequences_is_a_seeded_partition():
    n = 50
    video = np.broadcast_to(
        np.arange(n, dtype=np.float32)[:, None, None, None, None] / n, (n, 2, 4, 4, 1)
    )
    train, val, test = split_sequences(video, seed=1)
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    ids = [np.rint(part[:, 0, 0, 0, 0] * n).astype(int) for part in (train, val, test)]
    assert sorted(np.concatenate(ids)) == list(range(n))
    assert not np.array_equal(ids[0], np.arange(40))  # shuffled
    again = split_sequences(video, seed=1)
    other = split_sequences(video, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip((train, val, test), again, strict=True))
    assert not np.array_equal(train, other[0])


def test_split_sequences_smallest_case():
    parts = split_sequences(_video(n=3), fractions=(0.4, 0.3, 0.3))
    assert [len(p) for p in parts] == [1, 1, 1]


@pytest.mark.parametrize(
    "fractions, n, match",
    [
        ((0.5, 0.3, 0.3), 10, "sum of 1"),
        ((0.8, 0.2), 10, "three positive numbers"),
        ((1.0, 0.0, 0.0), 10, "three positive numbers"),
        ((1.2, -0.1, -0.1), 10, "three positive numbers"),
        ((0.8, float("nan"), 0.2), 10, "three positive numbers"),
        ((0.8, 0.1, 0.1), 5, "at least one sequence in each"),
    ],
)
def test_split_sequences_rejects_bad_fractions(fractions, n, match):
    with pytest.raises(ValueError, match=match):
        split_sequences(_video(n=n), fractions=fractions)


def test_shift_frames():
    video = _video(t=5)
    x, y = shift_frames(video)
    assert x.shape == y.shape == (2, 4, 8, 8, 1)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x[:, 0], video[:, 0])
    np.testing.assert_array_equal(y[:, -1], video[:, -1])
    with pytest.raises(ValueError, match="at least 2 frames"):
        shift_frames(_video(t=1))


def test_split_context():
    video = _video(t=8)
    seen, future = split_context(video, context=3)
    assert seen.shape[1] == 3 and future.shape[1] == 5
    np.testing.assert_array_equal(np.concatenate([seen, future], axis=1), video)
    seen, future = split_context(video, context=3, horizon=2)
    np.testing.assert_array_equal(future, video[:, 3:5])
    with pytest.raises(ValueError, match="at most 5 remain to predict, got horizon 6"):
        split_context(video, context=3, horizon=6)
    with pytest.raises(ValueError, match="context: expected fewer than the 8 frames"):
        split_context(video, context=8)
    with pytest.raises(ValueError, match="context: expected an integer >= 1"):
        split_context(video, context=0)
    with pytest.raises(ValueError, match="horizon: expected an integer >= 1"):
        split_context(video, context=3, horizon=0)


BAD_VIDEOS = [
    (np.zeros((6, 8, 8, 1), np.float32), "5 dimensions"),
    (np.zeros((2, 6, 8, 8, 1), np.uint8), "floating-point"),
    (np.full((2, 6, 8, 8, 1), np.nan, np.float32), "finite"),
    (np.full((2, 6, 8, 8, 1), 1.01, np.float32), r"\[0, 1\]"),
    (np.zeros((0, 6, 8, 8, 1), np.float32), "non-empty"),
    ([[0.5]], "expected an array"),
]


@pytest.mark.parametrize("video, match", BAD_VIDEOS)
@pytest.mark.parametrize(
    "fn",
    [shift_frames, split_context, split_sequences],
    ids=["shift_frames", "split_context", "split_sequences"],
)
def test_video_functions_reject_bad_videos(fn, video, match):
    with pytest.raises(ValueError, match=match):
        fn(video)


def test_mirrored_training_sequences_are_the_drawn_ones_in_all_four_mirror_images():
    from nfp_lib.config import TrainConfig
    from nfp_lib.data import mirror_randomly, training_sequences

    plain = TrainConfig(num_train=24, num_val=3, num_frames=3, fresh_data=True)
    mirror = TrainConfig(num_train=24, num_val=3, num_frames=3, fresh_data=True, mirror=True)
    drawn, shown = training_sequences(plain, "train", 2), training_sequences(mirror, "train", 2)
    images = [
        lambda v: v,
        lambda v: v[:, :, ::-1],
        lambda v: v[:, ::-1],
        lambda v: v[:, ::-1, ::-1],
    ]
    seen = [
        next(i for i, image in enumerate(images) if np.array_equal(image(d), s))
        for d, s in zip(drawn, shown, strict=True)
    ]
    assert set(seen) == {0, 1, 2, 3}  # left-right, upside down, both, and unchanged
    np.testing.assert_array_equal(training_sequences(mirror, "train", 2), shown)  # seeded
    np.testing.assert_array_equal(  # validation is never mirrored
        training_sequences(mirror, "val"), training_sequences(plain, "val")
    )
    np.testing.assert_array_equal(mirror_randomly(drawn, 5), mirror_randomly(drawn, 5))
    assert not np.array_equal(mirror_randomly(drawn, 5), mirror_randomly(drawn, 6))
    with pytest.raises(ValueError, match="video"):
        mirror_randomly(drawn[0], 5)


def test_training_sequences_are_seeded_per_split_and_epoch():
    from nfp_lib.config import TrainConfig
    from nfp_lib.data import training_sequences

    fixed = TrainConfig(num_train=3, num_val=2, num_frames=4)
    fresh = TrainConfig(num_train=3, num_val=2, num_frames=4, fresh_data=True)
    assert training_sequences(fixed, "val").shape == (2, 4, 64, 64, 1)
    np.testing.assert_array_equal(
        training_sequences(fixed, "train", 1), training_sequences(fixed, "train", 5)
    )
    np.testing.assert_array_equal(
        training_sequences(fixed, "train", 1), training_sequences(fresh, "train", 1)
    )
    assert not np.array_equal(
        training_sequences(fresh, "train", 1), training_sequences(fresh, "train", 2)
    )
    assert not np.array_equal(
        training_sequences(fixed, "val")[:2], training_sequences(fixed, "train")[:2]
    )
    with pytest.raises(ValueError, match="split"):
        training_sequences(fixed, "test")
    with pytest.raises(ValueError, match="epoch"):
        training_sequences(fixed, "train", 0)
