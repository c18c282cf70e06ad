"""Property tests: random valid input gives outputs in range, random invalid input a ValueError."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nfp_lib import metrics
from nfp_lib.data import generate_moving_mnist, shift_frames, split_context

FUZZ = settings(max_examples=25, deadline=None)


@FUZZ
@given(
    num_sequences=st.integers(1, 3),
    num_frames=st.integers(1, 6),
    size=st.integers(28, 48),
    num_digits=st.integers(1, 3),
    seed=st.integers(0, 2**32),
)
def test_generated_videos_are_valid(num_sequences, num_frames, size, num_digits, seed):
    video = generate_moving_mnist(num_sequences, num_frames, size, num_digits, seed)
    assert video.shape == (num_sequences, num_frames, size, size, 1)
    assert video.dtype == np.float32
    assert video.min() >= 0.0 and video.max() <= 1.0
    assert (video.reshape(num_sequences, num_frames, -1).max(axis=-1) > 0.5).all()


@FUZZ
@given(
    num_sequences=st.one_of(st.integers(-3, 0), st.floats(0.5, 3), st.booleans(), st.none()),
    size=st.one_of(st.integers(-5, 27), st.just(40.0)),
)
def test_generate_rejects_bad_arguments(num_sequences, size):
    for kwargs in ({"num_sequences": num_sequences}, {"num_sequences": 1, "size": size}):
        try:
            generate_moving_mnist(num_frames=2, **kwargs)
        except ValueError as err:
            assert "expected an integer" in str(err)
        else:
            raise AssertionError(f"accepted {kwargs}")


def _videos(draw, shape):
    """Random frames in [0, 1], a drawn fraction of them saturated at exactly 0 or 1."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    video = rng.random(shape, dtype=np.float32)
    video[rng.random(shape) < draw(st.floats(0, 1))] = draw(st.sampled_from([0.0, 1.0]))
    return video


@st.composite
def video_pairs(draw):
    n, t = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(11, 20)), draw(st.integers(11, 20))
    c = draw(st.sampled_from([1, 3]))
    truth = _videos(draw, (n, t, h, w, c))
    kind = draw(st.sampled_from(["random", "same", "inverted"]))
    pred = {
        "random": lambda: _videos(draw, truth.shape),
        "same": truth.copy,
        "inverted": lambda: 1 - truth,
    }[kind]()
    return truth, pred


@FUZZ
@given(video_pairs())
def test_metrics_stay_in_range(pair):
    truth, pred = pair
    scores = metrics.frame_metrics(truth, pred)
    t, pixels = truth.shape[1], np.prod(truth.shape[2:])
    for name, values in scores.items():
        assert values.shape == (t,), name
        assert np.isfinite(values).all(), name
    assert ((scores["mse"] >= 0) & (scores["mse"] <= 1)).all()
    assert ((scores["mae"] >= 0) & (scores["mae"] <= 1)).all()
    assert (scores["mse"] <= scores["mae"] + 1e-12).all()  # errors are at most 1
    assert ((scores["psnr"] >= 0) & (scores["psnr"] <= metrics.PSNR_CAP)).all()
    assert ((scores["ssim"] >= -1 - 1e-9) & (scores["ssim"] <= 1 + 1e-9)).all()
    np.testing.assert_allclose(scores["mse_sum"], scores["mse"] * pixels, rtol=1e-9)


@st.composite
def bad_pairs(draw):
    shape = (1, 2, 12, 12, 1)
    good = np.full(shape, 0.5, np.float32)
    bad = draw(
        st.sampled_from(
            [
                np.full((1, 3, 12, 12, 1), 0.5, np.float32),
                np.full((2, 12, 12, 1), 0.5, np.float32),
                np.full(shape, 0.5, np.float64)[..., :0],
                good.astype(np.int32),
                np.full((1, 2, 10, 12, 1), 0.5, np.float32),
            ]
        )
    )
    value = draw(st.sampled_from([np.nan, np.inf, -np.inf, -1e-3, 1.001, 7.0, None]))
    if value is not None and bad.dtype.kind == "f" and bad.size:
        bad = bad.copy()
        bad.flat[draw(st.integers(0, bad.size - 1))] = value
    return (good, bad) if draw(st.booleans()) else (bad, good)


@FUZZ
@given(bad_pairs(), st.sampled_from(["mse", "mae", "psnr", "ssim", "mse_sum", "frame_metrics"]))
def test_metrics_reject_invalid_input_with_value_error(pair, name):
    try:
        getattr(metrics, name)(*pair)
    except ValueError as err:
        assert "expected" in str(err)
    else:
        raise AssertionError(f"{name} accepted shapes {pair[0].shape} and {pair[1].shape}")


@FUZZ
@given(
    frames=st.integers(1, 8),
    context=st.integers(-1, 10),
    horizon=st.one_of(st.none(), st.integers(-1, 10)),
)
def test_split_context_splits_or_says_why(frames, context, horizon):
    video = np.zeros((1, frames, 4, 4, 1), np.float32)
    try:
        seen, future = split_context(video, context, horizon)
    except ValueError as err:
        assert "expected" in str(err) or "at most" in str(err)
        assert context < 1 or context >= frames or horizon is not None
    else:
        assert seen.shape[1] == context
        assert future.shape[1] == (frames - context if horizon is None else horizon)
        assert context + future.shape[1] <= frames
    if frames >= 2:
        x, y = shift_frames(video)
        assert x.shape[1] == y.shape[1] == frames - 1
