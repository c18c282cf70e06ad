# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Moving MNIST
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/01_moving_mnist.ipynb)
#
# Before we build a model we need videos to train it on. This chapter makes them: **Moving
# MNIST**, the data set of Srivastava et al. (2015), in which two handwritten digits bounce
# around a 64 x 64 black square for 20 frames. It is small enough to train on a laptop, yet a
# model has to learn real things to predict it: what a digit looks like, which way it moves,
# that it bounces off walls and that two digits can cross. We will see where the digits come
# from, how a sequence is drawn, and how a video becomes the inputs and targets of a next-frame
# predictor.

# %% [markdown]
# ## Set-up
#
# The book's code lives in a small library, `nfp_lib`. On your own machine `make book` has
# installed it already; on Colab this cell installs it from GitHub (once per session).

# %%
import subprocess
import sys

try:
    import nfp_lib  # noqa: F401
except ImportError:
    subprocess.check_call(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "nfp-lib @ git+https://github.com/nfp-book/nfp",
        ]
    )

# %% [markdown]
# Every notebook has one **parameters** cell. The defaults below run in about a minute on a
# CPU; with `NFP_QUICK=1` in the environment (how the tests run the notebooks) everything
# shrinks so the notebook finishes in seconds.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
NUM_SEQUENCES = 64 if QUICK else 1000  # videos to generate
NUM_FRAMES = 20  # frames per video
IMAGE_SIZE = 64  # pixels, square
# frames the model sees; the other NUM_FRAMES - CONTEXT are to predict
CONTEXT = 10
SEED = 0

# %%
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits as sklearn_digits

from nfp_lib import data, viz

# %% [markdown]
# ## The digits
#
# Moving MNIST is usually drawn from the 60,000 MNIST digits, which have to be downloaded. So
# that the whole book runs offline, `nfp_lib` uses by default the 1,797 handwritten digits that
# ship with scikit-learn (the UCI "optical recognition of handwritten digits" set). They are
# only 8 x 8 pixels, so `data.load_digits()` upscales each one to 20 x 20, centres it in a
# 28 x 28 box and stretches its contrast, which is how MNIST digits are framed. Here is one digit
# before and after.

# %%
digits = data.load_digits("sklearn")
print(
    "digits:",
    digits.shape,
    digits.dtype,
    f"values in [{digits.min()}, {digits.max()}]",
)

fig, (left, right) = plt.subplots(1, 2, figsize=(5, 2.5))
left.imshow(sklearn_digits().images[0], cmap="gray")
left.set_title("scikit-learn, 8 x 8")
right.imshow(digits[0], cmap="gray", vmin=0, vmax=1)
right.set_title("upscaled, 28 x 28")
for ax in (left, right):
    ax.axis("off")
plt.show()

# %% [markdown]
# And thirty of them. The strokes are thicker and smoother than MNIST's, but each is a real
# person's handwriting. To use real MNIST instead, pass `digits="mnist"` to the functions below;
# it downloads MNIST through Keras the first time.

# %%
fig, axes = plt.subplots(3, 10, figsize=(10, 3.2))
for ax, digit in zip(axes.ravel(), digits[:30], strict=True):
    ax.imshow(digit, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
plt.show()

# %% [markdown]
# Next to MNIST these digits are narrow, upright and alike: 1,797 of them, from a handful of
# writers. A model that learns only these learns them too well, and predicts real MNIST digits
# far worse ([Going further](06_going_further.ipynb) measures by how much). So the library
# has a second offline source, `"varied"`: every digit drawn eight other ways, as handwriting
# varies. Each drawing is slanted, turned, widened and elastically wobbled a little at random,
# and its strokes made bolder or thinner; then it is centred on its centre of mass, as MNIST
# centres its digits. The first row is the first five digits; under each, three of its
# drawings.

# %%
varied = data.load_digits("varied")
per_digit = len(varied) // len(digits)
print("varied digits:", varied.shape, f"({per_digit} drawings of each)")
fig, axes = plt.subplots(4, 5, figsize=(6, 5))
for col in range(5):
    axes[0, col].imshow(digits[col], cmap="gray", vmin=0, vmax=1)
    for row in range(1, 4):
        drawing = varied[col * per_digit + row - 1]
        axes[row, col].imshow(drawing, cmap="gray", vmin=0, vmax=1)
for ax in axes.ravel():
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Making a sequence
#
# `data.generate_moving_mnist` follows the original recipe. For each video it picks two digits
# at random and places them at random positions on a black 64 x 64 canvas. Each digit gets a
# random direction and a speed of 2 to 5 pixels per frame, and keeps it, except that it bounces
# off the walls like a billiard ball. Where the two digits overlap, each pixel takes the
# brighter of the two values (a pixel-wise maximum), so a crossing looks like two strokes drawn on
# top of each other rather than a sum that saturates.
#
# To see the bounces, follow a single digit for 40 frames and track the centre of its ink.
# (Seed 2 happens to give a diagonal path, which shows the bounces well.)

# %%
single = data.generate_moving_mnist(
    1, num_frames=40, size=IMAGE_SIZE, num_digits=1, seed=2
)
frames = single[0, ..., 0]  # (T, H, W)
rows, cols = np.indices(frames.shape[1:])
mass = frames.sum(axis=(1, 2))
centre_row = (frames * rows).sum(axis=(1, 2)) / mass
centre_col = (frames * cols).sum(axis=(1, 2)) / mass

fig, (ax_path, ax_frames) = plt.subplots(1, 2, figsize=(8, 4))
ax_path.plot(centre_col, centre_row, "-o", markersize=3)
ax_path.plot(centre_col[0], centre_row[0], "go", label="frame 1")
ax_path.set(
    xlim=(0, IMAGE_SIZE),
    ylim=(IMAGE_SIZE, 0),
    aspect="equal",
    xlabel="column (pixels)",
    ylabel="row (pixels)",
    title="centre of the ink",
)
ax_path.legend()
ax_frames.imshow(frames[::6].max(axis=0), cmap="gray", vmin=0, vmax=1)
ax_frames.set_title("every 6th frame, drawn together")
ax_frames.axis("off")
plt.show()

# %% [markdown]
# The centre of the ink never reaches the edge of the canvas: it is the digit's 28 x 28 box that
# bounces, and the ink sits inside it.
#
# Now the real thing: many videos of two digits each, as one array.

# %%
videos = data.generate_moving_mnist(
    NUM_SEQUENCES,
    num_frames=NUM_FRAMES,
    size=IMAGE_SIZE,
    num_digits=2,
    seed=SEED,
)
print("videos:", videos.shape, videos.dtype)
mib = videos.nbytes / 2**20
print(f"values in [{videos.min()}, {videos.max()}], {mib:.0f} MiB")

# %% [markdown]
# The shape is `(N, T, H, W, C)`: `N` videos of `T` frames, each frame `H` x `W` pixels with `C`
# channels (one, grayscale). This *channels-last* layout, with values in [0, 1] as 32-bit
# floats, is what every function in `nfp_lib` takes and returns, in both frameworks. The same
# `seed` always gives the same videos, bit for bit.
#
# Here is the first video, frame by frame.

# %%
viz.plot_sequence(videos[0], title="one Moving MNIST sequence")

# %% [markdown]
# Frames are easier to judge as a film. `viz.to_gif` encodes frames as an animated GIF and
# `viz.show_gif` displays it. Here are four videos side by side (split by gray bars), at 5
# frames per second.

# %%
bar = np.full((NUM_FRAMES, IMAGE_SIZE, 2, 1), 0.5, np.float32)
pieces = [piece for video in videos[:4] for piece in (video, bar)][:-1]
strip = np.concatenate(pieces, axis=2)  # (T, H, 4 * W + 6, C)
viz.show_gif(viz.to_gif(strip, fps=5, scale=2))

# %% [markdown]
# ## What the pixels look like
#
# Most of each frame is black background. That matters for training: a model that predicts an
# all-black frame is already "mostly right", so the loss and the metrics have to reward getting
# the few bright pixels right. The histogram below counts pixel values over all videos (note
# the logarithmic axis).

# %%
ink = videos > 0
print(f"mean intensity {videos.mean():.3f}")
print(f"{ink.mean():.1%} of pixels are not black")

fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(videos.ravel(), bins=50, log=True)
ax.set(xlabel="pixel value", ylabel="count (log scale)", title="pixel values")
plt.show()

# %% [markdown]
# Two trivial "predictors" give a sense of scale for the errors we will meet later: an all-black
# frame, and a copy of the current frame as the guess for the next one. Any model worth
# training must beat both.

# %%
black_mse = np.mean(videos[:, 1:] ** 2)
copy_mse = np.mean((videos[:, 1:] - videos[:, :-1]) ** 2)
print("mean squared error of the next frame, predicted as")
print(f"  all black:         {black_mse:.4f}")
print(f"  the current frame: {copy_mse:.4f}")

# %% [markdown]
# Copying barely beats black. A digit moves 2 to 5 pixels per frame, about the width of its
# strokes, so a copied stroke mostly lands beside the true one and is counted wrong twice: once
# where it is and once where it should be. To do better a model has to learn the motion.

# %% [markdown]
# ## Inputs and targets
#
# A next-frame predictor reads frames 1, 2, ..., t and outputs its guess for frame t + 1. We
# can train it on every step of a video at once: the input is the video without its last frame
# and the target is the video without its first frame, so that target `y[t]` is input
# `x[t + 1]`. `data.shift_frames` makes this pair.

# %%
x, y = data.shift_frames(videos)
print("x (input): ", x.shape)
print("y (target):", y.shape)
assert np.array_equal(y[:, :-1], x[:, 1:])

fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for t in range(6):
    axes[0, t].imshow(x[0, t, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[0, t].set_title(f"x[{t}] = frame {t + 1}", fontsize=9)
    axes[1, t].imshow(y[0, t, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[1, t].set_title(f"y[{t}] = frame {t + 2}", fontsize=9)
for ax in axes.ravel():
    ax.axis("off")
plt.show()

# %% [markdown]
# At test time the model does not get to peek at the true frames. It sees the first `CONTEXT`
# frames (the *context*) and must produce the rest (the *horizon*) one by one, feeding each
# prediction back in as its next input. `data.split_context` cuts a video into the two parts;
# with 20 frames and a context of 10 the model sees 10 and predicts 10, as in most papers.

# %%
seen, future = data.split_context(videos, context=CONTEXT)
print("seen:  ", seen.shape)
print("future:", future.shape)

# %% [markdown]
# Finally, the videos are split into three disjoint sets: one to train on, one to watch during
# training (to pick the learning rate, or to stop early), and one kept aside to report the final
# numbers. `data.split_sequences` shuffles with a seed, so the split is reproducible.

# %%
train, val, test = data.split_sequences(
    videos, fractions=(0.8, 0.1, 0.1), seed=SEED
)
print(f"train {len(train)}, validation {len(val)}, test {len(test)} sequences")

# %% [markdown]
# ## The published test set
#
# The original authors also published one fixed file of 10,000 Moving MNIST test sequences
# (800 MB), which papers use to report comparable numbers. `data.load_moving_mnist()` reads it
# from a local cache and never downloads on its own: without the file it raises a
# `DataUnavailableError` that says what to do. This book never needs the file, so here we only
# show the message.

# %%
try:
    published = data.load_moving_mnist()
    print("found the published test set:", published.shape)
except data.DataUnavailableError as err:
    # the message names this machine's cache folder: show it as ~
    message = str(err).replace(str(Path.home()), "~")
    print(textwrap.fill(f"{type(err).__name__}: {message}", 80))

# %% [markdown]
# With a network connection, `data.load_moving_mnist(download=True)` fetches the file once,
# checks its MD5 checksum and keeps it for next time. It comes in the same `(N, T, H, W, C)`
# layout as the generated videos, so every later chapter works with either.

# %% [markdown]
# ## Look for yourself
#
# In a live notebook (locally or on Colab) the cell below shows `viz.frame_viewer`: two
# sliders, one to pick a video and one to step through its frames. The static book leaves that
# cell out, since without Python behind the page the sliders could not move; the book's page
# [Live: the ConvLSTM in your browser](../live.md) runs a trained model on such videos in the
# browser instead.

# %% tags=["remove-cell"]
viz.frame_viewer(videos[:8])

# %% [markdown]
# ## Summary
#
# - Moving MNIST is generated, not downloaded: two 28 x 28 digits bounce inside a 64 x 64 frame
#   and overlap by their maximum. `data.generate_moving_mnist` draws any number of videos, and
#   the same seed always gives the same videos.
# - A next-frame predictor learns from pairs: frames 1..T-1 in, frames 2..T out
#   (`data.shift_frames`). To continue a video, split it into the frames the model sees and the
#   frames it must predict (`data.split_context`).
# - Offline, the digits come from scikit-learn, as they are (`"sklearn"`) or each drawn eight
#   other ways (`"varied"`); the published test file is read only when it is there.
#
# ## Exercises
#
# 1. Generate videos with `num_digits=3` and watch one as a GIF. How often do digits overlap? A
#    model that moves each small patch of the frame one way has trouble where they do: why?
# 2. Draw the same videos twice with one seed and once with another, and check with
#    `np.array_equal` which pairs are identical.
# 3. The mean squared error of a blank frame is the mean of the squared pixels. How does it
#    change with `num_digits=1` and `num_digits=3`, and what does that say about comparing
#    scores across datasets? ([Rollout and evaluation](05_rollout_evaluation.ipynb) uses the
#    blank frame as a baseline.)
#
# ## What's next
#
# We have videos, inputs and targets. The next chapter, [A ConvLSTM in
# PyTorch](02_convlstm_pytorch.ipynb), builds the convolutional LSTM cell gate by gate and stacks
# it into a next-frame predictor; [A ConvLSTM in Keras](03_convlstm_keras.ipynb) then builds the
# same network with Keras 3.
