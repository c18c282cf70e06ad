"""Pictures of videos: frame grids, truth-vs-prediction plots, metric and training curves, GIFs and
an interactive frame viewer.

Plots return a ``matplotlib.figure.Figure`` that pyplot no longer tracks: it shows once when it
is a notebook cell's value (or through ``IPython.display.display(fig)``), is saved with
``fig.savefig(path)``, and needs no closing. matplotlib, imageio, ipywidgets and IPython are
imported only when a function needs them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nfp_lib.fileio import atomic_write_bytes
from nfp_lib.validation import check_positive_int, check_same_shape, check_video

if TYPE_CHECKING:
    from IPython.display import Image
    from ipywidgets import VBox
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.image import AxesImage

HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "mse": False, "mae": False, "mse_sum": False}
BASELINE_STYLES = {
    "copy last frame": {"color": "0.45", "linestyle": "--"},
    "blank frame": {"color": "black", "linestyle": ":"},
}
"""How :func:`plot_metric_curves` draws the two baselines: grey dashed and black dotted lines,
no markers."""
_MARKERS = "os^Dv"  # with the ten default colours: fifty model curves before a style repeats
_PANEL = 1.3  # inches per frame in the grids
_ROW = 1.55  # inches per row of frames, titles included


def _grid_font(cols: int) -> float:
    """Font size (points) for a grid ``cols`` frames wide: a wide figure is shrunk to the page's
    width, so its text is drawn larger, about 10 points on the page at any width."""
    return 7.0 + 0.9 * cols


def _new_figure(**kwargs: object) -> Figure:
    """A figure made through pyplot, so a notebook's inline display is set up, then released
    from pyplot so that it is shown once (as the cell's value), not twice."""
    import matplotlib.pyplot as plt

    fig = plt.figure(**kwargs)
    plt.close(fig)
    return fig


def _clip(video: object, name: str) -> np.ndarray:
    """One sequence ``(T, H, W, C)`` (or ``(1, T, H, W, C)``) with 1 or 3 channels, checked."""
    if not hasattr(video, "shape") or not hasattr(video, "dtype"):
        raise ValueError(f"{name}: expected an array (T, H, W, C), got {type(video).__name__}")
    arr = np.asarray(video)
    if arr.ndim == 5 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 4:
        raise ValueError(
            f"{name}: expected one sequence (T, H, W, C) or (1, T, H, W, C), got shape {arr.shape}"
        )
    arr = check_video(arr[None], name)[0]
    if arr.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels (channels-last), got {arr.shape[-1]}")
    return arr


def _show(ax: Axes, frame: np.ndarray, cmap: str = "gray") -> AxesImage:
    """Draw one (H, W, C) frame in [0, 1] without ticks."""
    image = frame[..., 0] if frame.shape[-1] == 1 else frame
    shown = ax.imshow(image, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def _pick(total: int, count: int) -> np.ndarray:
    """Up to ``count`` evenly spaced indices of ``range(total)``, first and last included."""
    return np.unique(np.linspace(0, total - 1, min(total, count)).round().astype(int))


def plot_sequence(video: np.ndarray, title: str | None = None, max_frames: int = 20) -> Figure:
    """One sequence ``(T, H, W, C)`` as a grid of frames (10 per row) labelled 1..T.

    Longer sequences show ``max_frames`` evenly spaced frames, the first and last included.
    """
    clip = _clip(video, "video")
    frames = _pick(len(clip), check_positive_int(max_frames, "max_frames"))
    cols = min(len(frames), 10)
    rows = math.ceil(len(frames) / cols)
    fig = _new_figure(
        figsize=(_PANEL * cols, _ROW * rows + (0.4 if title else 0.0)), layout="tight"
    )
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    font = _grid_font(cols)
    for ax, t in zip(axes, frames, strict=False):
        _show(ax, clip[t])
        ax.set_title(f"frame {t + 1}", fontsize=font)
    for ax in axes[len(frames) :]:
        ax.remove()
    if title:
        fig.suptitle(title, fontsize=font + 2)
    return fig


def plot_comparison(
    truth: np.ndarray,
    pred: np.ndarray,
    context: np.ndarray | None = None,
    max_frames: int = 10,
    title: str | None = None,
    error: bool = True,
) -> Figure:
    """Rows "truth", "prediction" and "|error|" (with its colour bar) over time for one
    sequence ``(T, H, W, C)``.

    ``context`` (``(Tc, H, W, C)``, the frames the model saw) adds a first row "seen" with its
    last ``max_frames`` frames, and the predicted frames are numbered from Tc + 1.
    """
    truth, pred = _clip(truth, "truth"), _clip(pred, "pred")
    check_same_shape(truth, pred, ("truth", "pred"))
    max_frames = check_positive_int(max_frames, "max_frames")
    rows = [("truth", truth), ("prediction", pred)]
    if error:
        rows.append(("|error|", np.abs(truth - pred)))
    first = 0
    if context is not None:
        context = _clip(context, "context")
        if context.shape[1:] != truth.shape[1:]:
            raise ValueError(
                f"context: expected frames of shape {truth.shape[1:]} like truth, got "
                f"{context.shape[1:]}"
            )
        first = len(context)
    frames = _pick(len(truth), max_frames)
    seen = np.arange(max(0, first - max_frames), first)
    grid = ([("seen", context, seen, 0)] if context is not None else []) + [
        (label, data, frames, first) for label, data in rows
    ]
    return _grid(grid, title)


def plot_rows(
    rows: dict[str, np.ndarray],
    first: int = 0,
    max_frames: int = 10,
    title: str | None = None,
) -> Figure:
    """Labelled rows of frames over the same times: ``rows`` maps a label to one sequence
    ``(T, H, W, C)``, all of one shape, drawn top to bottom; frames are numbered from
    ``first + 1`` (``first``: the frames that came before, e.g. the context)."""
    if not rows:
        raise ValueError("rows: expected at least one labelled sequence, got none")
    clips = {label: _clip(video, f"rows[{label!r}]") for label, video in rows.items()}
    shape = next(iter(clips.values())).shape
    for label, clip in clips.items():
        if clip.shape != shape:
            raise ValueError(f"rows[{label!r}]: expected shape {shape}, got {clip.shape}")
    frames = _pick(shape[0], check_positive_int(max_frames, "max_frames"))
    first = check_positive_int(first, "first", minimum=0)
    return _grid([(label, clip, frames, first) for label, clip in clips.items()], title)


def _grid(grid: list[tuple[str, np.ndarray, np.ndarray, int]], title: str | None) -> Figure:
    """Rows ``(label, sequence, frame indices, offset)``, frames titled by ``offset`` + index
    + 1; a row labelled "|error|" in magma with its colour bar."""
    cols = max(len(indices) for _, _, indices, _ in grid)
    fig = _new_figure(
        figsize=(_PANEL * cols + 0.5, _ROW * len(grid) + (0.4 if title else 0.0)),
        layout="constrained",
    )
    axes = fig.subplots(len(grid), cols, squeeze=False)
    font = _grid_font(cols)
    for row, (label, data, indices, offset) in zip(axes, grid, strict=True):
        for ax, t in zip(row, indices, strict=False):
            shown = _show(ax, data[t], cmap="magma" if label == "|error|" else "gray")
            ax.set_title(f"frame {offset + t + 1}", fontsize=font)
        row[0].set_ylabel(label, fontsize=font)
        for ax in row[len(indices) :]:
            ax.remove()
        if label == "|error|":
            bar = fig.colorbar(shown, ax=list(row[: len(indices)]), fraction=0.05, pad=0.01)
            bar.ax.tick_params(labelsize=font - 2)
    if title:
        fig.suptitle(title, fontsize=font + 2)
    return fig


def _curve(values: object, name: str) -> np.ndarray:
    """A non-empty 1-D float array (NaN allowed: a diverged epoch leaves a gap)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if isinstance(values, str) or arr is None or arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence of numbers, got {values!r}")
    return arr


def plot_metric_curves(
    curves: Mapping[str, np.ndarray | Sequence[float]], metric: str, title: str | None = None
) -> Figure:
    """Curves of ``metric`` against the prediction horizon 1..T, one line per model.

    ``curves`` maps a label (``"ConvLSTM"``, ``"copy last frame"``) to the per-frame scores.
    The baselines named in :data:`BASELINE_STYLES` are dashed or dotted reference lines; every
    other curve gets a colour and marker of its own. The legend sits to the right of the plot,
    where it covers no curve.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(f"curves: expected a non-empty dict label -> scores, got {curves!r}")
    fig = _new_figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.subplots()
    colours = [f"C{i}" for i in range(10)]
    models = 0
    for label, values in curves.items():
        y = _curve(values, f"curves[{label!r}]")
        style = BASELINE_STYLES.get(str(label))
        if style is None:
            marker = _MARKERS[models // len(colours) % len(_MARKERS)]
            style = {"color": colours[models % len(colours)], "marker": marker, "markersize": 3}
            models += 1
        ax.plot(np.arange(1, len(y) + 1), y, label=str(label), **style)
    better = HIGHER_IS_BETTER.get(metric.lower())
    hint = "" if better is None else (" (higher is better)" if better else " (lower is better)")
    ax.set_xlabel("frames ahead")
    ax.set_ylabel(metric + hint)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize="small")
    ax.set_title(title or f"{metric} per predicted frame")
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None
) -> Figure:
    """Training curves from a history dict of per-epoch lists.

    Each metric gets a panel shared by its training and ``val_`` values (``loss`` with
    ``val_loss`` first), three panels to a row; a learning rate (``learning_rate`` or ``lr``)
    goes on a log scale.
    ``keys`` picks the entries to draw (default: all but ``epoch``).
    """
    from matplotlib.ticker import MaxNLocator

    if not isinstance(history, Mapping) or not history:
        raise ValueError(f"history: expected a non-empty dict of lists, got {history!r}")
    keys = [k for k in history if k != "epoch"] if keys is None else list(keys)
    missing = [k for k in keys if k not in history]
    if missing or not keys:
        raise ValueError(f"keys: expected some of {sorted(history)}, got {keys}")
    series = {k: _curve(history[k], f"history[{k!r}]") for k in keys}
    lengths = {len(v) for v in series.values()}
    x = _curve(history["epoch"], "history['epoch']") if "epoch" in history else None
    if x is not None:
        lengths.add(len(x))
    if len(lengths) != 1:
        raise ValueError(f"history: expected lists of equal length, got lengths {sorted(lengths)}")
    if x is None:
        x = np.arange(1, lengths.pop() + 1)
    groups: dict[str, list[str]] = {}
    for k in keys:
        groups.setdefault(k.removeprefix("val_"), []).append(k)
    order = sorted(groups, key=lambda g: (g != "loss", g in ("learning_rate", "lr")))
    cols = min(len(order), 3)  # wider figures would be shrunk past reading at page width
    rows = math.ceil(len(order) / cols)
    fig = _new_figure(figsize=(4 * cols, 3.2 * rows), layout="tight")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(order) :]:
        ax.remove()
    for ax, group in zip(axes, order, strict=False):
        for k in groups[group]:
            ax.plot(x, series[k], marker="o", markersize=3, label=k)
        if group in ("learning_rate", "lr"):
            ax.set_yscale("log")
        ax.set_title(group)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # 1 epoch too
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def _gif_frames(frames: object, name: str) -> np.ndarray:
    """``(T, H, W)`` or ``(T, H, W, C)`` floats in [0, 1] -> checked ``(T, H, W, C)``."""
    if getattr(frames, "ndim", None) == 3:
        frames = np.asarray(frames)[..., None]
    return _clip(frames, name)


def _to_uint8(frames: np.ndarray, scale: int) -> np.ndarray:
    """Floats (T, H, W, C) -> uint8 upscaled by ``scale``; grayscale loses its channel axis."""
    out = np.rint(frames * 255.0).astype(np.uint8)
    out = out.repeat(scale, axis=1).repeat(scale, axis=2)
    return out[..., 0] if out.shape[-1] == 1 else out


def to_gif(frames: np.ndarray, fps: float = 5, scale: int = 2, seen: int | None = None) -> bytes:
    """Encode frames ``(T, H, W[, C])`` in [0, 1] as a looping GIF, upscaled ``scale`` times.

    With ``seen`` (a video whose first ``seen`` frames were given and the rest predicted), each
    frame is captioned like :func:`comparison_gif`'s: its number, and "seen" or "predicted".
    Without it, Pillow merges identical consecutive frames into one longer frame, so a video
    that stands still decodes to fewer frames (it plays the same).
    """
    import imageio.v3 as iio

    clip = _gif_frames(frames, "frames")
    if seen is not None:
        seen = check_positive_int(seen, "seen", minimum=0)
        return _labelled_gif(clip, ["video"], clip.shape[2] + 1, seen, fps, scale)
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps <= 100:
        raise ValueError(f"fps: expected a number in (0, 100], got {fps!r}")
    scale = check_positive_int(scale, "scale")
    pixels = _to_uint8(clip, scale)
    return iio.imwrite("<bytes>", pixels, extension=".gif", duration=1000.0 / fps, loop=0)


def save_gif(frames: np.ndarray, path: str | Path, **kwargs: object) -> Path:
    """Write ``to_gif(frames, **kwargs)`` to ``path`` atomically and return the path."""
    return atomic_write_bytes(path, to_gif(frames, **kwargs))


def comparison_gif(
    truth: np.ndarray,
    pred: np.ndarray,
    fps: float = 5,
    scale: int = 2,
    error: bool = True,
    seen: int = 0,
    labels: bool = True,
) -> bytes:
    """A GIF of truth | prediction | |error| side by side, frames ``(T, H, W, C)``.

    Panels are separated by a thin mid-gray bar. With ``labels`` (the default) each frame also
    gets the panels' names above them and, below, the frame number and whether the model saw it
    (the first ``seen`` frames, where the "prediction" is the input itself) or predicted it; a
    black bar under the prediction marks every predicted frame. Grayscale throughout, so the
    pixels stay exact in the GIF's palette.
    """
    truth, pred = _gif_frames(truth, "truth"), _gif_frames(pred, "pred")
    check_same_shape(truth, pred, ("truth", "pred"))
    seen = check_positive_int(seen, "seen", minimum=0)
    panels = [truth, pred] + ([np.abs(truth - pred)] if error else [])
    t, h, w, c = truth.shape
    bar = np.full((t, h, 1, c), 0.5, truth.dtype)
    joined = [panels[0]]
    for panel in panels[1:]:
        joined += [bar, panel]
    if not labels:
        return to_gif(np.concatenate(joined, axis=2), fps=fps, scale=scale)
    names = ["truth", "prediction", "|error|"][: len(panels)]
    return _labelled_gif(np.concatenate(joined, axis=2), names, w + 1, seen, fps, scale)


_BAND = 14  # pixels of the title and caption bands of a labelled GIF


def _labelled_gif(
    frames: np.ndarray, names: list[str], stride: int, seen: int, fps: float, scale: int
) -> bytes:
    """Frames ``(T, H, W, C)`` with panels every ``stride`` pixels, as a labelled GIF."""
    import imageio.v3 as iio
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not 0 < fps <= 100:
        raise ValueError(f"fps: expected a number in (0, 100], got {fps!r}")
    scale = check_positive_int(scale, "scale")
    gray = frames.mean(axis=-1, keepdims=True) if frames.shape[-1] != 1 else frames
    pixels = _to_uint8(gray, scale)
    t, height, width = pixels.shape
    font = ImageFont.load_default()
    out = []
    for i in range(t):
        canvas = PILImage.new("L", (width, height + 2 * _BAND), 230)
        canvas.paste(PILImage.fromarray(pixels[i]), (0, _BAND))
        draw = ImageDraw.Draw(canvas)
        for k, name in enumerate(names):
            draw.text((k * stride * scale + 2, 0), name, fill=0, font=font)
        predicted = i >= seen
        caption = f"frame {i + 1}/{t}: {'predicted' if predicted else 'seen'}"
        draw.text((2, height + _BAND), caption, fill=0, font=font)
        if predicted and len(names) > 1:  # the mark: a black bar under the prediction panel
            x0 = stride * scale
            draw.rectangle(
                [x0, height + _BAND, x0 + (stride - 1) * scale - 1, height + _BAND + 3], fill=0
            )
        out.append(np.asarray(canvas))
    return iio.imwrite("<bytes>", np.stack(out), extension=".gif", duration=1000.0 / fps, loop=0)


def show_gif(gif_bytes: bytes) -> Image:
    """Wrap GIF bytes for display in a notebook (also in a static Jupyter Book page)."""
    from IPython.display import Image

    if not isinstance(gif_bytes, bytes) or not gif_bytes.startswith(b"GIF8"):
        raise ValueError(f"gif_bytes: expected the bytes of a GIF file, got {gif_bytes!r:.40}")
    return Image(data=gif_bytes, format="gif")


def _png(frame: np.ndarray, scale: int) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", _to_uint8(frame[None], scale)[0], extension=".png")


def frame_viewer(truth: np.ndarray, pred: np.ndarray | None = None, scale: int = 4) -> VBox:
    """An ipywidgets viewer for a batch ``(N, T, H, W, C)``: pick a sequence and a frame.

    Returns a ``VBox``: ``children[0]`` holds the sliders ``sequence`` (0..N-1) and ``frame``
    (1..T); ``children[1]`` holds one column per image (truth, and with ``pred`` the prediction
    and |error|), each a label over a PNG ``Image`` widget upscaled ``scale`` times.
    """
    import ipywidgets as widgets

    truth = check_video(truth, "truth")
    if truth.shape[-1] not in (1, 3):
        raise ValueError(f"truth: expected 1 or 3 channels (channels-last), got {truth.shape[-1]}")
    panels = {"truth": truth}
    if pred is not None:
        pred = check_video(pred, "pred")
        check_same_shape(truth, pred, ("truth", "pred"))
        panels["prediction"] = pred
        panels["|error|"] = None  # computed per frame
    scale = check_positive_int(scale, "scale")
    n, t = truth.shape[:2]
    sequence = widgets.IntSlider(value=0, min=0, max=n - 1, description="sequence")
    frame = widgets.IntSlider(value=1, min=1, max=t, description="frame")
    images = {name: widgets.Image(format="png") for name in panels}

    def update(_: object = None) -> None:
        i, k = sequence.value, frame.value - 1
        for name, data in panels.items():
            image = np.abs(truth[i, k] - pred[i, k]) if data is None else data[i, k]
            images[name].value = _png(image, scale)

    sequence.observe(update, names="value")
    frame.observe(update, names="value")
    update()
    columns = [widgets.VBox([widgets.Label(name), images[name]]) for name in panels]
    return widgets.VBox([widgets.HBox([sequence, frame]), widgets.HBox(columns)])
