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
# # Rollout and evaluation
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/05_rollout_evaluation.ipynb)
#
# Training taught the model one step: given the true frames so far, guess the next one. Now we
# ask for more. The model sees 10 frames of a video it has never met and must produce the next
# 10 on its own, each new frame made from its own previous guesses. This chapter shows how to
# do that efficiently (and how the keras-io example does it inefficiently), measures the
# predictions frame by frame against the truth and against a trivial baseline, and looks at
# them, to see where and how they go wrong.

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
# The **parameters** cell. The defaults score five shipped models (the plain ConvLSTM and the
# laptop models, in both frameworks where shipped) on 100 new sequences (about a minute on a
# CPU); `NFP_QUICK=1` uses 8. To evaluate your own training instead, set
# `CHECKPOINT` to its run folder (e.g. `"runs/convlstm-64"` from the chapter
# [Training](04_training.ipynb)).

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
PLAIN = "plain-torch"  # the plain ConvLSTM (pixel head) trained in chapter 4
# a shipped PyTorch model, or the folder of your own PyTorch run
CHECKPOINT = "laptop-torch"
# the motion head with two moves and a drawn frame
MASKED = "laptop-masks-torch"
KERAS_CHECKPOINT = "laptop-keras"  # the same for Keras
KERAS_PLAIN = "plain-keras"  # the plain ConvLSTM trained in Keras
NUM_TEST = 8 if QUICK else 100  # held-out sequences to score
# not a seed any training used, so these sequences are new to the models
TEST_SEED = 2026
CONTEXT = 10  # frames the model sees
HORIZON = 10  # frames it predicts
NUM_TIMED = 4 if QUICK else 8  # sequences in the rollout timing
REPEATS = 1 if QUICK else 3  # timings keep the fastest of this many runs
NUM_GIFS = 2 if QUICK else 4

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # after KERAS_BACKEND is set: Keras picks its backend on import

from nfp_lib import (
    bench,
    data,
    evaluate,
    keras_backend,
    pretrained,
    torch_backend,
    viz,
)

# %% [markdown]
# ## The models
#
# `pretrained.load_any(name)` loads a checkpoint that ships with `nfp_lib` (no download); given a
# path instead, it loads a run folder or model file of yours, from either backend. Five models
# (see [Training](04_training.ipynb)), three steps each on the one before: the plain ConvLSTM,
# whose head draws each next frame's pixels (`plain-torch`, and `plain-keras` in Keras); the
# `laptop` preset with its motion head, which moves the current frame's pixels instead, trained in
# PyTorch and in Keras; and `laptop-masks-torch`, whose head makes two moves per patch and a drawn
# frame and mixes them pixel by pixel ([Going further](06_going_further.ipynb)).


# %%
def load(name: str):
    """A shipped checkpoint by name, or a run folder of yours."""
    model, config = pretrained.load_any(name)
    m = config.model
    print(f"{name}: {m.filters} filters, patch size {m.patch_size}")
    return model


plain = load(PLAIN)
keras_plain = load(KERAS_PLAIN)
model = load(CHECKPOINT)
keras_model = load(KERAS_CHECKPOINT)
masked = load(MASKED)

# %% [markdown]
# The test videos are generated with a seed that no training run used, so the models have
# never seen them. Each is cut into the 10 frames the model sees and the 10 it must predict.

# %%
test = data.generate_moving_mnist(
    NUM_TEST, num_frames=CONTEXT + HORIZON, seed=TEST_SEED
)
seen, future = data.split_context(test, context=CONTEXT, horizon=HORIZON)
print("seen:", seen.shape, " to predict:", future.shape)

# %% [markdown]
# ## Multi-frame prediction
#
# To predict frame 11 the model reads frames 1 to 10. To predict frame 12 it needs frame 11,
# which it does not have: it gets its own prediction of it instead. And so on: from frame 12
# on, every input is a guess, so errors can pile up. This is called a *rollout* (or
# autoregressive, free-running prediction), in contrast to the teacher forcing of training.
#
# A ConvLSTM carries everything it knows about the past in its state, one pair of images
# $(h, c)$ per layer. So a rollout only has to read the 10 seen frames once, keep the state,
# and then take one step per new frame. Here it is written out with the PyTorch model's
# `forward(..., return_state=True)` and `step(frame, state)`:

# %%
with torch.no_grad():
    x = torch_backend.to_tensor(seen[:4])  # (N, T, C, H, W), PyTorch's layout
    # read the 10 seen frames, keep the state
    preds, state = model(x, return_state=True)
    frames = [preds[:, -1]]  # the prediction of frame 11
    for _ in range(HORIZON - 1):
        frame, state = model.step(frames[-1], state)  # feed the guess back in
        frames.append(frame)
# back to (N, T, H, W, C)
by_hand = torch_backend.to_numpy(torch.stack(frames, dim=1))

library = torch_backend.rollout(model, seen[:4], HORIZON)
gap = np.abs(by_hand - library).max()
print(
    "rollout:", library.shape, f"- max difference from the loop above {gap:.1e}"
)

# %% [markdown]
# In Keras the `ConvLSTM2D` layers read whole sequences, so to carry the state we call each
# layer's *cell* ourselves, one frame at a time, with that layer's `(h, c)`. Here it is for the
# plain Keras model (`plain-keras`: patches in, three ConvLSTM cells, the pixel head, patches
# out):

# %%
# the ModelConfig, read from the layers
arch = keras_backend.model_config(keras_plain)
layer = {each.name: each for each in keras_plain.layers}
cells = [layer[f"convlstm_{i}"].cell for i in range(len(arch.filters))]


def keras_step(frame, states):
    """One frame (N, 1, H, W, C) in; the predicted next frame and every
    cell's new (h, c) out."""
    x = layer["space_to_depth"](frame)[:, 0]  # (N, 16, 16, 16)
    new_states = []
    for cell, state in zip(cells, states, strict=True):
        x, state = cell(x, state)  # x is the cell's output h
        new_states.append(state)
    # the head is a Conv3D over a 1-frame sequence
    pixels = layer["head"](x[:, None])
    return layer["depth_to_space"](pixels), new_states


grid = seen.shape[2] // arch.patch_size
# every cell starts from a zero state (h, c)
states = [[np.zeros((4, grid, grid, f), np.float32)] * 2 for f in arch.filters]
for t in range(CONTEXT):  # read the seen frames, keep the states
    frame, states = keras_step(seen[:4, t : t + 1], states)
keras_frames = [frame]
for _ in range(HORIZON - 1):  # feed each guess back in
    frame, states = keras_step(frame, states)
    keras_frames.append(frame)
keras_by_hand = np.concatenate(
    [keras.ops.convert_to_numpy(f) for f in keras_frames], axis=1
)
keras_library = keras_backend.rollout(keras_plain, seen[:4], HORIZON)
difference = np.abs(keras_by_hand - keras_library).max()
print(f"Keras rollout: {keras_by_hand.shape}")
print(f"max difference from the library: {difference:.1e}")

# %% [markdown]
# `torch_backend.rollout(model, context, horizon)` and `keras_backend.rollout` are these loops,
# in batches, on numpy arrays (the Keras one compiles its step once and handles every head).
# Each costs `CONTEXT + HORIZON - 1` frame steps.
#
# The keras-io example does it differently: for every new frame it runs the model on the whole
# sequence so far (the seen frames plus the predictions) from the beginning and keeps only the
# last output. It has to: its `Conv3D` head looks one frame *ahead* in time, so its outputs
# depend on inputs that do not exist yet during a rollout, and no state can be carried over.
# For a causal model (our per-frame head) re-running gives exactly the same frames, but frame
# number $k$ costs $k$ steps, so the whole rollout costs a sum that grows with the square of its
# length. `torch_backend.rollout_rerun` reproduces this loop. Let us count and time both on the
# same model and the same sequences.

# %%
ot_steps = CONTEXT + HORIZON - 1
rerun_steps = sum(range(CONTEXT, CONTEXT + HORIZON))
print(f"frame steps: O(T) rollout {ot_steps}, re-run {rerun_steps}")
print(f"the re-run does {rerun_steps / ot_steps:.1f}x the steps")


def fastest(fn):
    """The shortest of REPEATS timed calls of ``fn``, and its result."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


threads = torch.get_num_threads()
# one CPU thread: time the work, not how busy the machine's cores are
torch.set_num_threads(1)
torch_backend.rollout(model, seen[:1], 1)  # warm-up
rerun_s, rerun_frames = fastest(
    lambda: torch_backend.rollout_rerun(model, seen[:NUM_TIMED], HORIZON)
)
ot_s, ot_frames = fastest(
    lambda: torch_backend.rollout(model, seen[:NUM_TIMED], HORIZON)
)
cpu = bench.cpu_info()["model"]
print(f"{NUM_TIMED} sequences, {HORIZON} frames each, float32, one thread")
print(f"of this machine's {cpu}:")
print(f"  re-run (keras-io)  {rerun_s * 1e3:7.0f} ms")
speedup = rerun_s / ot_s
print(f"  O(T) rollout       {ot_s * 1e3:7.0f} ms   speed-up {speedup:.1f}x")
gap = np.abs(rerun_frames - ot_frames).max()
print(f"  max difference between their frames: {gap:.1e}")
torch.set_num_threads(threads)

# %% [markdown]
# Same frames (up to float rounding), several times faster, and the gap widens with the
# horizon. The speed-up need not equal the ratio of frame steps: every call into the model
# also has a fixed cost (Python, allocating memory), and the O(T) rollout makes many small
# calls, one per new frame, where the re-run makes fewer, bigger ones. Both were timed on one
# CPU thread, so that other programs competing for the cores do not blur the comparison.
# `python -m nfp_lib bench` times the same comparison for the full-size model (and on a GPU
# with `--device cuda`).

# %% [markdown]
# ## Scoring a rollout
#
# `evaluate.evaluate(model, video, context=10, horizon=10)` runs a model on held-out videos,
# with either backend, and returns a dictionary of scores:
#
# - `next_frame`: teacher-forced one-step predictions over the whole video (as in training),
#   one number per metric;
# - `rollout`: the 10-frame rollout after the 10 seen frames, one number per predicted frame;
# - `copy_last`: the same for a baseline that just repeats the last seen frame. A model that
#   does not beat it has not learned the motion.
# - `blank`: the same for an all-black frame. About nine pixels in ten of a Moving MNIST frame
#   are black, so predicting nothing at all scores well: a forecast that puts ink in the wrong
#   place, or smears it over the background, does worse than no ink. A model that does not
#   beat this baseline has learned less than it seems.
#
# With each list of scores comes `ink`, the mean predicted intensity over the mean true
# intensity: 1 keeps the digits' ink, a forecast that fades towards black goes to 0.
#
# The metrics, computed per frame and averaged over the videos:
#
# - **MSE** and **MAE**: the mean squared and absolute pixel errors (lower is better).
#   Papers often report `mse_sum`, the squared error *summed* over the 4,096 pixels of a frame.
# - **PSNR**: $10 \log_{10}(1 / \text{MSE})$ in decibels, the MSE on a log scale (higher is
#   better).
# - **SSIM**, structural similarity: compares local brightness, contrast and structure of the
#   two images in small Gaussian windows; 1 for identical images, near 0 for unrelated ones. It
#   rewards getting the strokes right more than getting the black background right.

# %%
models = {
    PLAIN: plain,
    KERAS_PLAIN: keras_plain,
    CHECKPOINT: model,
    KERAS_CHECKPOINT: keras_model,
    MASKED: masked,
}
results = {
    name: evaluate.evaluate(m, test, context=CONTEXT, horizon=HORIZON)
    for name, m in models.items()
}
baseline, blank = results[CHECKPOINT]["copy_last"], results[CHECKPOINT]["blank"]
for metric in ("ssim", "mse_sum", "ink"):
    curves = {
        name: result["rollout"][metric] for name, result in results.items()
    }
    curves["copy last frame"] = baseline[metric]
    curves["blank frame"] = blank[metric]
    title = f"{metric} per predicted frame, {NUM_TEST} test videos"
    display(viz.plot_metric_curves(curves, metric, title=title))

# %% [markdown]
# The same numbers as a table, frame by frame:

# %%
names = list(results)
columns = [*names, "copy", "blank"]
scores = {
    **{n: results[n]["rollout"] for n in names},
    "copy": baseline,
    "blank": blank,
}
for metric, digits in (("ssim", 3), ("mse_sum", 1)):
    lines = [f"| {metric}, frame | " + " | ".join(columns) + " |"]
    lines.append("|" + "---:|" * (len(columns) + 1))
    for t in range(HORIZON):
        row = [f"{scores[n][metric][t]:.{digits}f}" for n in columns]
        lines.append(f"| {CONTEXT + t + 1} | " + " | ".join(row) + " |")
    display(Markdown("\n".join(lines)))

# %% [markdown]
# (MSE here is `mse_sum`, the squared error summed over a frame's pixels.) Which model beats
# which baseline, and from which predicted frame on it stops doing so:


# %%
def first_loss(result: dict, base: str, metric: str) -> str:
    """The first frame at which the baseline scores better than the model,
    or "never"."""
    better = np.greater if metric == "ssim" else np.less
    model_scores = np.array(result["rollout"][metric])
    base_scores = np.array(result[base][metric])
    lost = np.flatnonzero(~better(model_scores, base_scores))
    return f"frame {CONTEXT + lost[0] + 1}" if len(lost) else "never"


for name, result in results.items():
    print(f"{name}:")
    for base in ("copy_last", "blank"):
        when = [
            f"{m.upper()} {first_loss(result, base, m)}"
            for m in ("ssim", "mse")
        ]
        print(f"  loses to {base:<9}: " + ", ".join(when))
    ink = result["rollout"]["ink"]
    last = CONTEXT + HORIZON
    print(
        f"  ink ratio: {ink[0]:.2f} at frame {CONTEXT + 1}, "
        f"{ink[-1]:.2f} at frame {last}"
    )

# %% [markdown]
# And one step ahead from true frames (teacher forced) against the first and the last frame of
# the rollout:

# %%
lines = [
    "| model | metric | next frame (teacher forced) "
    "| rollout, 1st frame | rollout, last frame |",
    "|---|---|---:|---:|---:|",
]
for name, result in results.items():
    for metric in ("ssim", "psnr", "mse", "mae"):
        step = result["next_frame"][metric]
        roll = result["rollout"][metric]
        lines.append(
            f"| {name} | {metric.upper()} | {step:.4g} "
            f"| {roll[0]:.4g} | {roll[-1]:.4g} |"
        )
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Looking at the predictions
#
# Numbers hide *how* a prediction is wrong. `evaluate.predict_future(model, seen, horizon)` is
# the rollout used above (the O(T) one for a causal model, else the re-run). Here is one test
# video: the last seen frames, then truth, prediction and the absolute error, frame by frame.

# %%
plain_predicted = evaluate.predict_future(plain, seen[:1], HORIZON)
viz.plot_comparison(
    future[0],
    plain_predicted[0],
    context=seen[0],
    title=f"{PLAIN}, test video 0",
)

# %% [markdown]
# The motion head's model on the same video:

# %%
predicted = evaluate.predict_future(model, seen, HORIZON)
viz.plot_comparison(
    future[0],
    predicted[0],
    context=seen[0],
    title=f"{CHECKPOINT}, test video 0",
)

# %% [markdown]
# The Keras model on the same video:

# %%
keras_predicted = evaluate.predict_future(keras_model, seen[:1], HORIZON)
viz.plot_comparison(
    future[0],
    keras_predicted[0],
    context=seen[0],
    title=f"{KERAS_CHECKPOINT}, test video 0",
)

# %% [markdown]
# As films: each GIF shows truth | prediction | error for all 20 frames, with the frame number
# under them. For the first 10 the "prediction" is the seen frames themselves (no error); from
# frame 11 on it is the model's, marked by the black bar under the prediction.

# %%
for i in range(NUM_GIFS):
    guess = np.concatenate([seen[i], predicted[i]])
    display(
        viz.show_gif(viz.comparison_gif(test[i], guess, fps=4, seen=CONTEXT))
    )

# %% [markdown]
# In a live notebook, the cell below shows `viz.frame_viewer`, two sliders to step through any
# test video and frame. The static book leaves it out (its sliders could not move without
# Python behind the page); its page *Live: the ConvLSTM in your browser* predicts in the
# browser instead.

# %% tags=["remove-cell"]
viz.frame_viewer(future[:8], predicted[:8])

# %% [markdown]
# ## Blur, and how the predictions degrade
#
# Trained to minimise a per-pixel loss, a model that is unsure where a digit will be does best
# by hedging: it paints a faint smear over every likely position rather than a sharp digit in
# one of them. So predictions get blurrier the further ahead they are, and their errors feed
# back into the next step. Two simple measurements show this on the test videos, truth against
# prediction, for every predicted frame: how many pixels are bright (above 0.5: sharp ink), and
# how much a frame differs from the one before (motion; zero if the video froze).

# %%
bright = {"truth": future > 0.5, "prediction": predicted > 0.5}
fig, (ax_ink, ax_motion) = plt.subplots(1, 2, figsize=(10, 3.5))
frame_numbers = np.arange(CONTEXT + 1, CONTEXT + HORIZON + 1)
for label, video in (("truth", future), ("prediction", predicted)):
    ax_ink.plot(
        frame_numbers,
        bright[label].mean(axis=(0, 2, 3, 4)),
        "-o",
        ms=3,
        label=label,
    )
    moving = np.concatenate([seen[:, -1:], video], axis=1)
    motion = np.abs(np.diff(moving, axis=1)).mean(axis=(0, 2, 3, 4))
    ax_motion.plot(frame_numbers, motion, "-o", ms=3, label=label)
fig.suptitle(f"{CHECKPOINT} on {len(future)} test videos")
ax_ink.set(xlabel="frame", title="share of bright pixels (> 0.5)")
ax_motion.set(xlabel="frame", title="mean |frame - previous frame|")
for ax in (ax_ink, ax_motion):
    ax.grid(alpha=0.3)
    ax.legend()
plt.show()

# %% [markdown]
# What the measurements say about the model evaluated here, in numbers:

# %%
result = results[CHECKPOINT]
ssim, copy_ssim = result["rollout"]["ssim"], baseline["ssim"]
# frame numbers of the first and last prediction
first, last = CONTEXT + 1, CONTEXT + HORIZON
wins = [first + t for t in range(HORIZON) if ssim[t] > copy_ssim[t]]
per_frame = (0, 2, 3, 4)  # average over everything but the frame
ink = bright["prediction"].mean(per_frame) / bright["truth"].mean(per_frame)
print(f"{CHECKPOINT}, {NUM_TEST} test videos:")
one_step = result["next_frame"]["ssim"]
print(f"  SSIM one step ahead from true frames: {one_step:.3f}")
print(f"  SSIM at frame {first} and frame {last}:")
print(f"    the rollout   {ssim[0]:.3f}  {ssim[-1]:.3f}")
print(f"    copying       {copy_ssim[0]:.3f}  {copy_ssim[-1]:.3f}")
print(f"  the model beats copying in SSIM on {len(wins)} of {HORIZON} frames:")
print(f"    {wins}")
print("  bright pixels, prediction / truth:")
print(f"    {ink[0]:.0%} at frame {first}, {ink[-1]:.0%} at frame {last}")

# %% [markdown]
# Read the curves and these numbers together:
#
# - The plain ConvLSTM beats copying the last frame, but within a few frames it loses to the
#   blank frame (the "loses to blank" lines above) and its ink ratio falls towards 0: its
#   digits fade. Its head draws every pixel afresh, and where it is unsure it draws a faint
#   smear, which the next step, reading that smear, makes fainter still. The motion head moves
#   ink that is already there rather than redrawing it, and keeps more of it for longer; the
#   compositing head adds a little more on top (compare their "loses to blank" frames). None
#   of them beats the blank frame at every horizon: their digits still fade.
# - The first rollout frame is a one-step prediction from true frames only, so it scores about
#   as well as the teacher-forced prediction (which also averages over the early frames of a
#   video, where the model has seen less). Everything after it pays for feeding guesses back in.
# - A falling share of bright pixels is blur: the ink is spread out thinner. Where the model's
#   motion curve stays near the truth's, the predicted digits keep moving; a motion curve that
#   drops towards zero would be the *sequence collapse* that a Georgia Tech course report
#   ([References](../references.md)) describes for its predictor (an LSTM over VGG16 image
#   features, on the UCF101 action videos, not Moving MNIST), which "would simply reconstruct the
#   same image at all time steps" beyond 6 or 7 predicted frames.
# - MSE and SSIM can disagree. A blurred digit in about the right place scores a good MSE (it
#   is never very wrong anywhere) but a weaker SSIM (the strokes are gone). This is why papers
#   report both, and why a model can beat the copy baseline in one and not the other.
#
# The chapter [Going further](06_going_further.ipynb) pushes the rollout to 30 frames, where
# degradation is plain to see, and discusses scheduled sampling, a way to train for it.

# %% [markdown]
# ## The stored evaluation
#
# Each shipped checkpoint comes with the same evaluation on more sequences (500 by default),
# stored beside it and read with `pretrained.pretrained_metrics(name)`. It was made with the
# command line, which you can rerun to check it (and point at your own run folder):
#
# ```bash
# python -m nfp_lib evaluate --checkpoint laptop-torch --json > metrics.json
# python -m nfp_lib evaluate --checkpoint laptop-torch   # the same, as a table
# python -m nfp_lib evaluate --checkpoint runs/laptop \
#     --num-sequences 500 --seed 2026
# ```
#
# `--data mnist_test_seq.npy` scores on the published Moving MNIST test file instead of
# generated videos.

# %%
names = (PLAIN, KERAS_PLAIN, CHECKPOINT, KERAS_CHECKPOINT, MASKED)
stored = {}
for name in dict.fromkeys(names):  # each name once, in order
    if name in pretrained.list_pretrained():
        stored[name] = pretrained.pretrained_metrics(name)
        s = stored[name]
        print(
            f"{name}: {s['num_sequences']} sequences, "
            f"{s['context']} seen, {s['horizon']} predicted"
        )
    else:
        print(f"{name}: no stored evaluation (not a shipped checkpoint)")
if stored:
    base = next(iter(stored.values()))  # every name: the same test videos
    scores = {name: s["rollout"] for name, s in stored.items()}
    scores["copy last frame"] = base["copy_last"]
    scores["blank frame"] = base["blank"]
    curves = {name: score["ssim"] for name, score in scores.items()}
    title = f"SSIM per frame, {base['num_sequences']} stored test videos"
    display(viz.plot_metric_curves(curves, "SSIM", title=title))
    lines = [
        "| model | next-frame SSIM | rollout SSIM, mean "
        "| rollout MSE per frame (sum), mean |",
        "|---|---:|---:|---:|",
    ]
    for name, score in scores.items():
        if name in stored:
            first = f"{stored[name]['next_frame']['ssim']:.3f}"
        else:  # a baseline: no next-frame prediction
            first, name = "", f"*{name}*"
        lines.append(
            f"| {name} | {first} | {np.mean(score['ssim']):.3f} "
            f"| {np.mean(score['mse_sum']):.1f} |"
        )
    display(Markdown("\n".join(lines)))

# %% [markdown]
# On many more sequences the curves are smoother, but they should tell the same story as the
# 100 (or 8) videos above. The summed per-frame MSE is the number to compare with papers on
# Moving MNIST; keep in mind that those use real MNIST digits and the published test file,
# and usually much larger models trained for hundreds of epochs on a GPU.

# %% [markdown]
# ## Summary
#
# - A rollout feeds each prediction back in as the next input; carrying the state makes it cost
#   one step per frame.
# - A forecast is only as good as the baselines it beats: the last seen frame repeated, and a
#   blank frame. The ink ratio shows whether predictions fade.
# - The plain ConvLSTM beats copying but fades and loses to the blank frame within a few frames.
#   The motion head and the compositing head keep their ink longer, but their digits still fade,
#   and none of these models beats the blank frame at every horizon. A wider compositing model
#   trained five times longer does, narrowly, over ten frames
#   ([Going further](06_going_further.ipynb)).
#
# ## Exercises
#
# 1. Set `HORIZON = 20` (and generate longer test videos) and find, for each model, the first
#    frame at which the blank frame scores better.
# 2. Evaluate your own run from [Training](04_training.ipynb) by setting `CHECKPOINT` to its
#    folder, and place it among the shipped models.
# 3. Score the rollouts with `metrics.ssim_7x7` as well as `metrics.ssim`. On which frames do
#    the two disagree most, and why?
#
# ## What's next
#
# The next chapter, [Going further](06_going_further.ipynb), rolls out further than the model was
# ever shown, trains with scheduled sampling, times how patching makes training cheap, moves to
# GPUs, and runs a model on a clip of your own.
