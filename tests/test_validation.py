import numpy as np
import pytest

from nfp_lib.validation import check_positive_int, check_same_shape, check_video, describe_error


def test_accepts_valid_video_without_copy():
    x = np.random.default_rng(0).random((2, 3, 8, 8, 1), dtype=np.float32)
    assert check_video(x, channels=1, min_frames=3) is x


@pytest.mark.parametrize(
    "x, kwargs, match",
    [
        ([1, 2, 3], {}, "expected an array"),
        (np.zeros((3, 8, 8, 1), np.float32), {}, "5 dimensions"),
        (np.zeros((0, 3, 8, 8, 1), np.float32), {}, "non-empty"),
        (np.zeros((1, 3, 8, 8, 1), np.uint8), {}, "floating-point"),
        (np.zeros((1, 3, 8, 8, 3), np.float32), {"channels": 1}, "1 channel"),
        (np.zeros((1, 3, 8, 8, 1), np.float32), {"min_frames": 4}, "at least 4 frames"),
        (np.full((1, 3, 8, 8, 1), np.nan, np.float32), {}, "finite"),
        (np.full((1, 3, 8, 8, 1), np.inf, np.float32), {}, "finite"),
        (np.full((1, 3, 8, 8, 1), 1.5, np.float32), {}, r"\[0, 1\]"),
        (np.full((1, 3, 8, 8, 1), -0.1, np.float32), {}, r"\[0, 1\]"),
    ],
)
def test_rejects_bad_video(x, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_video(x, **kwargs)


def test_error_names_the_argument():
    with pytest.raises(ValueError, match="^context:"):
        check_video(np.zeros((1, 2, 3)), name="context")


def test_same_shape_and_positive_int():
    check_same_shape(np.zeros((1, 2)), np.ones((1, 2)), ("a", "b"))
    with pytest.raises(ValueError, match="equal shapes"):
        check_same_shape(np.zeros((1, 2)), np.zeros((2, 1)), ("a", "b"))
    assert check_positive_int(np.int64(3), "n") == 3
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(ValueError, match="n: expected an integer"):
            check_positive_int(bad, "n")


def test_describe_error_is_one_short_line():
    assert describe_error(OSError(28, "No space left on device", "f")) == "No space left on device"
    long = ValueError(
        "Requested a `Lambda` layer whose function is a Python lambda. This is risky.\nmore"
    )
    assert describe_error(long) == "Requested a `Lambda` layer whose function is a Python lambda."
    assert describe_error(KeyError()) == "KeyError"
    assert len(describe_error(RuntimeError("x" * 1000))) == 300
