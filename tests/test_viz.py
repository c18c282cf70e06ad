import matplotlib

matplotlib.use("Agg")

import imageio.v3 as iio
import numpy as np
import pytest
from matplotlib.figure import Figure

from nfp_lib import viz


def _clip(t=6, h=12, w=10, c=1, seed=0):
    return np.random.default_rng(seed).random((t, h, w, c), dtype=np.float32)


def _images(fig):
    return [ax for ax in fig.axes if ax.images]


def test_plot_sequence_draws_every_frame_with_its_number():
    clip = _clip(t=12)
    fig = viz.plot_sequence(clip, title="digits")
    assert isinstance(fig, Figure)
    axes = _images(fig)
    assert len(fig.axes) == len(axes) == 12
    assert [ax.get_title() for ax in axes] == [f"frame {t}" for t in range(1, 13)]
    np.testing.assert_array_equal(axes[3].images[0].get_array(), clip[3, ..., 0])
    assert fig._suptitle.get_text() == "digits"
    # a batch of one is accepted, RGB too
    assert len(viz.plot_sequence(clip[None]).axes) == 12
    assert len(viz.plot_sequence(_clip(t=3, c=3)).axes) == 3


def test_plot_sequence_subsamples_long_videos():
    fig = viz.plot_sequence(_clip(t=40), max_frames=5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["frame 1", "frame 11", "frame 21", "frame 30", "frame 40"]


def test_plot_comparison_rows_and_frame_numbers():
    truth, pred = _clip(t=5), _clip(t=5, seed=1)
    fig = viz.plot_comparison(truth, pred)
    assert len(fig.axes) == 16  # truth, prediction, |error| and its colour bar
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["truth", "prediction", "|error|"]
    error = fig.axes[10].images[0].get_array()
    np.testing.assert_allclose(error, np.abs(truth[0, ..., 0] - pred[0, ..., 0]))
    colour_bar = fig.axes[15]
    assert colour_bar.get_ylim() == (0.0, 1.0)  # the |error| scale, 0 to 1

    fig = viz.plot_comparison(truth, pred, context=_clip(t=8, seed=2), max_frames=4, error=False)
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == ["seen", "truth", "prediction"]
    assert len(fig.axes) == 12
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:4] == ["frame 5", "frame 6", "frame 7", "frame 8"]  # last 4 seen
    assert titles[4] == "frame 9" and titles[7] == "frame 13"  # predictions follow


def test_plot_rows_draws_each_labelled_sequence_at_the_same_times():
    rows = {"truth": _clip(t=6), "guess": _clip(t=6, seed=1), "mean": _clip(t=6, seed=2)}
    fig = viz.plot_rows(rows, first=10, max_frames=3)
    assert len(fig.axes) == 9
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == list(rows)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["frame 11", "frame 13", "frame 16"]
    np.testing.assert_array_equal(fig.axes[3].images[0].get_array(), rows["guess"][0, ..., 0])
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_rows({})
    with pytest.raises(ValueError, match=r"rows\['mean'\]: expected shape"):
        viz.plot_rows({"truth": _clip(t=6), "mean": _clip(t=5)})


def test_plot_metric_curves_against_horizon():
    fig = viz.plot_metric_curves(
        {"ConvLSTM": np.linspace(0.9, 0.6, 10), "copy last frame": [0.7] * 10}, "ssim"
    )
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["ConvLSTM", "copy last frame"]
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, 11))
    assert "higher is better" in ax.get_ylabel()
    assert "lower is better" in viz.plot_metric_curves({"a": [1.0]}, "mse").axes[0].get_ylabel()


def test_plot_metric_curves_tells_every_curve_apart():
    # the results chapter draws every shipped checkpoint and both baselines in one plot: more
    # curves than the ten default colours, and no two may look alike
    curves = {f"model {i}": np.linspace(0.9 - i / 50, 0.6, 10) for i in range(12)}
    curves["copy last frame"] = [0.7] * 10
    curves["blank frame"] = [0.74] * 10
    lines = viz.plot_metric_curves(curves, "ssim").axes[0].get_lines()
    styles = [(line.get_color(), line.get_marker(), line.get_linestyle()) for line in lines]
    assert len(set(styles)) == len(curves)
    by_label = {line.get_label(): line for line in lines}
    for base in ("copy last frame", "blank frame"):
        assert by_label[base].get_linestyle() in ("--", ":")
        assert by_label[base].get_marker() in ("None", "", None)
    assert all(by_label[f"model {i}"].get_linestyle() == "-" for i in range(12))


def test_plot_metric_curves_legend_covers_no_curve():
    curves = {f"model {i}": np.linspace(0.9 - i / 20, 0.6, 10) for i in range(7)}
    fig = viz.plot_metric_curves(curves, "ssim")
    fig.draw_without_rendering()
    (legend,) = fig.legends
    legend_box = legend.get_window_extent()
    axes_box = fig.axes[0].get_window_extent()
    assert legend_box.x0 >= axes_box.x1  # beside the plot, not on it
    assert legend_box.x1 <= fig.bbox.x1  # and inside the figure
    assert [t.get_text() for t in legend.get_texts()] == list(curves)


def test_plot_history_panels():
    history = {
        "epoch": [1, 2, 3],
        "loss": [0.3, 0.2, 0.1],
        "val_loss": [0.35, 0.25, 0.2],
        "val_mse": [0.05, 0.04, 0.03],
        "val_ssim": [0.5, 0.6, 0.7],
        "learning_rate": [1e-3, 1e-3, 5e-4],
    }
    fig = viz.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "mse", "ssim", "learning_rate"]
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["loss", "val_loss"]
    assert fig.axes[3].get_yscale() == "log" and fig.axes[0].get_yscale() == "linear"
    # three panels to a row: the fourth starts a second row, below the first
    first, fourth = (ax.get_position() for ax in (fig.axes[0], fig.axes[3]))
    assert fourth.y1 < first.y0 and abs(fourth.x0 - first.x0) < 0.02
    fig = viz.plot_history({"loss": [1.0, float("nan"), 0.5]}, keys=["loss"])
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 2, 3])


@pytest.mark.parametrize("epochs", [1, 2, 17])
def test_plot_history_ticks_whole_epochs(epochs):
    fig = viz.plot_history({"loss": np.linspace(1, 0.5, epochs)})
    ax = fig.axes[0]
    fig.canvas.draw()
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    assert ticks and all(float(t).is_integer() for t in ticks)


@pytest.mark.parametrize(
    "history, keys, match",
    [
        ({}, None, "non-empty dict"),
        ([1, 2], None, "non-empty dict"),
        ({"loss": [1.0, 2.0], "val_loss": [1.0]}, None, "equal length"),
        ({"epoch": [1, 2, 3], "loss": [1.0, 2.0]}, None, "equal length"),
        ({"loss": [1.0]}, ["val_loss"], "expected some of"),
        ({"loss": []}, None, "non-empty 1-D"),
        ({"loss": ["a", "b"]}, None, "numbers"),
        ({"epoch": [1]}, None, "expected some of"),
    ],
)
def test_plot_history_rejects_bad_input(history, keys, match):
    with pytest.raises(ValueError, match=match):
        viz.plot_history(history, keys=keys)


def test_to_gif_decodes_to_the_frames():
    clip = _clip(t=5, h=8, w=6)
    gif = viz.to_gif(clip, fps=4, scale=3)
    assert gif.startswith(b"GIF8")
    frames = iio.imread(gif, index=None)
    assert frames.shape[:3] == (5, 24, 18)
    gray = frames[..., 0] if frames.ndim == 4 else frames
    want = np.rint(clip[..., 0] * 255).repeat(3, axis=1).repeat(3, axis=2)
    np.testing.assert_allclose(gray, want, atol=1)
    meta = iio.immeta(gif, index=0)
    assert meta["loop"] == 0 and meta["duration"] == 250
    # (T, H, W) and RGB frames work as well
    assert iio.imread(viz.to_gif(clip[..., 0], scale=1), index=None).shape[:3] == (5, 8, 6)
    assert iio.imread(viz.to_gif(_clip(t=2, c=3), scale=1), index=None).shape == (2, 12, 10, 3)


def test_save_gif_writes_atomically(tmp_path):
    path = viz.save_gif(_clip(t=3), tmp_path / "out" / "clip.gif", fps=2)
    assert path == tmp_path / "out" / "clip.gif"
    assert iio.imread(path, index=None).shape[:3] == (3, 24, 20)
    assert [p.name for p in path.parent.iterdir()] == ["clip.gif"]


def test_comparison_gif_panels():
    truth, pred = _clip(t=4, h=8, w=8), _clip(t=4, h=8, w=8, seed=1)
    frames = iio.imread(viz.comparison_gif(truth, pred, scale=1, labels=False), index=None)
    assert frames.shape[:3] == (4, 8, 3 * 8 + 2)
    gray = (frames[..., 0] if frames.ndim == 4 else frames).astype(float) / 255
    np.testing.assert_allclose(gray[:, :, :8], truth[..., 0], atol=1 / 255)
    np.testing.assert_allclose(gray[:, :, 8], 0.5, atol=1 / 255)  # separator
    np.testing.assert_allclose(gray[:, :, 9:17], pred[..., 0], atol=1 / 255)
    np.testing.assert_allclose(gray[:, :, 18:], np.abs(truth - pred)[..., 0], atol=1 / 255)
    two = iio.imread(
        viz.comparison_gif(truth, pred, scale=2, error=False, labels=False), index=None
    )
    assert two.shape[:3] == (4, 16, 2 * (2 * 8 + 1))


def test_comparison_gif_labels_the_panels_and_marks_the_predicted_frames():
    truth, pred = _clip(t=4, h=64, w=64), _clip(t=4, h=64, w=64, seed=1)
    frames = iio.imread(viz.comparison_gif(truth, pred, scale=2, seen=2), index=None)
    gray = frames[..., 0] if frames.ndim == 4 else frames
    band, height = 14, 128
    assert gray.shape == (4, height + 2 * band, 2 * (3 * 64 + 2))  # 388 pixels wide
    panels = gray[:, band : band + height, :128].astype(float) / 255
    np.testing.assert_allclose(panels[:, ::2, ::2], truth[..., 0], atol=1 / 255)
    titles, captions = gray[:, :band], gray[:, band + height :]
    assert (titles < 100).any(axis=(1, 2)).all()  # text on every frame
    assert np.array_equal(titles[0], titles[3])  # the same titles throughout
    mark = captions[:, :3, 130:256]  # the bar under the prediction panel
    assert [bool((m == 0).all()) for m in mark] == [False, False, True, True]
    assert not np.array_equal(captions[0], captions[1])  # the frame counter moves


def test_to_gif_with_seen_captions_each_frame():
    clip = _clip(t=3, h=64, w=64)
    frames = iio.imread(viz.to_gif(clip, scale=2, seen=1), index=None)
    gray = frames[..., 0] if frames.ndim == 4 else frames
    band, height = 14, 128
    assert gray.shape == (3, height + 2 * band, 128)
    video = gray[:, band : band + height].astype(float) / 255
    np.testing.assert_allclose(video[:, ::2, ::2], clip[..., 0], atol=1 / 255)
    titles, captions = gray[:, :band], gray[:, band + height :]
    assert (titles < 100).any() and (captions < 100).any(axis=(1, 2)).all()
    assert len({c.tobytes() for c in captions}) == 3  # "1/3: seen", "2/3: predicted", ...
    with pytest.raises(ValueError, match="seen"):
        viz.to_gif(clip, seen=-1)


def test_show_gif():
    from IPython.display import Image

    gif = viz.to_gif(_clip(t=2))
    shown = viz.show_gif(gif)
    assert isinstance(shown, Image) and shown.data == gif and shown.format == "gif"
    with pytest.raises(ValueError, match="bytes of a GIF"):
        viz.show_gif(b"\x89PNG....")


def test_frame_viewer_sliders_update_images():
    truth = np.random.default_rng(0).random((3, 4, 8, 8, 1), dtype=np.float32)
    pred = np.clip(truth + 0.1, 0, 1).astype(np.float32)
    viewer = viz.frame_viewer(truth, pred, scale=2)
    sequence, frame = viewer.children[0].children
    assert (sequence.min, sequence.max, frame.min, frame.max) == (0, 2, 1, 4)
    columns = viewer.children[1].children
    assert [col.children[0].value for col in columns] == ["truth", "prediction", "|error|"]
    image = columns[0].children[1]
    shown = iio.imread(image.value)
    assert shown.shape[:2] == (16, 16)
    np.testing.assert_allclose(shown[::2, ::2] / 255, truth[0, 0, ..., 0], atol=1 / 255)
    before = image.value
    frame.value = 3
    assert image.value != before
    np.testing.assert_allclose(
        iio.imread(image.value)[::2, ::2] / 255, truth[0, 2, ..., 0], atol=1 / 255
    )
    sequence.value = 2
    np.testing.assert_allclose(
        iio.imread(image.value)[::2, ::2] / 255, truth[2, 2, ..., 0], atol=1 / 255
    )
    error = iio.imread(columns[2].children[1].value)[::2, ::2] / 255
    np.testing.assert_allclose(error, np.abs(truth - pred)[2, 2, ..., 0], atol=1 / 255)
    assert len(viz.frame_viewer(truth).children[1].children) == 1


BAD_CLIPS = [
    (np.zeros((8, 8), np.float32), "one sequence"),
    (np.zeros((2, 3, 8, 8, 1), np.float32), "one sequence"),
    (np.zeros((3, 8, 8, 2), np.float32), "1 or 3 channels"),
    (np.zeros((3, 8, 8, 1), np.uint8), "floating-point"),
    (np.full((3, 8, 8, 1), np.nan, np.float32), "finite"),
    (np.full((3, 8, 8, 1), 1.5, np.float32), r"\[0, 1\]"),
    (np.zeros((0, 8, 8, 1), np.float32), "non-empty"),
    ("frames", "expected an array"),
]


@pytest.mark.parametrize("clip, match", BAD_CLIPS)
@pytest.mark.parametrize(
    "fn",
    [
        viz.plot_sequence,
        lambda c: viz.plot_comparison(c, c),
        lambda c: viz.plot_comparison(_clip(t=3, h=8, w=8), _clip(t=3, h=8, w=8), context=c),
        viz.to_gif,
        lambda c: viz.comparison_gif(c, c),
    ],
    ids=["plot_sequence", "plot_comparison", "plot_comparison-context", "to_gif", "comparison_gif"],
)
def test_clip_functions_reject_bad_input(fn, clip, match):
    with pytest.raises(ValueError, match=match):
        fn(clip)


def test_other_bad_arguments():
    clip = _clip(t=3)
    with pytest.raises(ValueError, match="expected equal shapes"):
        viz.plot_comparison(clip, clip[:2])
    with pytest.raises(ValueError, match="context: expected frames of shape"):
        viz.plot_comparison(clip, clip, context=_clip(t=2, h=5))
    with pytest.raises(ValueError, match="expected equal shapes"):
        viz.comparison_gif(clip, clip[:2])
    with pytest.raises(ValueError, match="max_frames"):
        viz.plot_sequence(clip, max_frames=0)
    with pytest.raises(ValueError, match="fps"):
        viz.to_gif(clip, fps=0)
    with pytest.raises(ValueError, match="scale"):
        viz.to_gif(clip, scale=0)
    with pytest.raises(ValueError, match="non-empty dict"):
        viz.plot_metric_curves({}, "ssim")
    with pytest.raises(ValueError, match="1-D"):
        viz.plot_metric_curves({"a": [[1.0, 2.0]]}, "ssim")
    video = clip[None]
    with pytest.raises(ValueError, match="5 dimensions"):
        viz.frame_viewer(clip)
    with pytest.raises(ValueError, match="expected equal shapes"):
        viz.frame_viewer(video, video[:, :2])
    with pytest.raises(ValueError, match="1 or 3 channels"):
        viz.frame_viewer(np.zeros((1, 2, 4, 4, 2), np.float32))
