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
# # Going further
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/06_going_further.ipynb)
#
# This chapter is a tour of what comes next once a model trains and rolls out. We predict much
# further ahead than the model was trained for and watch it degrade; meet *scheduled sampling*, a
# way to train for long rollouts; measure why cutting frames into patches makes training affordable
# on a CPU; weigh a head that draws pixels against one that moves them; see what the library does on
# GPUs, including several at once; and finally run the model on data of your own, from the published
# Moving MNIST file to a GIF.

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
# The **parameters** cell. The defaults take a few minutes on a CPU; `NFP_QUICK=1` shrinks
# every experiment to seconds. `CHECKPOINT` may name your own PyTorch run folder.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"
# a shipped PyTorch model, or the folder of your own PyTorch run
CHECKPOINT = "laptop-torch"
CONTEXT = 10  # frames the model sees
LONG_HORIZON = 10 if QUICK else 30  # frames to predict in the long rollout
NUM_LONG = 8 if QUICK else 50  # test videos for it
EARLY = slice(None, LONG_HORIZON // 2)  # the first half of the long rollout
LATE = slice(LONG_HORIZON // 2, None)  # and the second
NUM_VARIED = 8 if QUICK else 100  # test videos of other handwriting
TEST_SEED = 2026  # not a seed any training used
# scheduled-sampling demo: optimiser steps to fade teacher forcing out
SAMPLING_STEPS = 8
STEP_BATCH = 4  # training-step timing: sequences per batch
STEP_FRAMES = 4 if QUICK else 8  # and frames per sequence
REPEATS = 1 if QUICK else 3  # timings keep the fastest of this many runs

# %%
import tempfile
import textwrap
import time
from pathlib import Path

import imageio.v3 as iio
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

os.environ.setdefault("KERAS_BACKEND", "torch")

from nfp_lib import (
    backends,
    bench,
    data,
    evaluate,
    keras_backend,
    pretrained,
    torch_backend,
    viz,
)
from nfp_lib.config import PRESETS
from nfp_lib.stored import stored_result

# %% [markdown]
# The model: the shipped `laptop-torch` checkpoint (see [Training](04_training.ipynb)), or a run
# folder of yours.

# %%
model, config = pretrained.load_any(CHECKPOINT)
print(f"{CHECKPOINT}: trained on {config.train.num_frames}-frame videos")

# %% [markdown]
# ## Longer horizons
#
# The shipped model trained on 20-frame videos, teacher-forced: it never had to continue a
# video with its own guesses, let alone for long. What happens if we ask for 30 frames after
# the 10 it sees? We generate 40-frame test videos and score the rollout frame by frame, as in
# the previous chapter.

# %%
long_videos = data.generate_moving_mnist(
    NUM_LONG, num_frames=CONTEXT + LONG_HORIZON, seed=TEST_SEED
)
seen, future = data.split_context(long_videos, context=CONTEXT)
long_result = evaluate.evaluate(
    model, long_videos, context=CONTEXT, horizon=LONG_HORIZON
)
train_end = config.train.num_frames  # the last frame of a training video
for metric in ("ssim", "ink"):
    fig = viz.plot_metric_curves(
        {
            CHECKPOINT: long_result["rollout"][metric],
            "copy last frame": long_result["copy_last"][metric],
            "blank frame": long_result["blank"][metric],
        },
        metric,
        title=f"{LONG_HORIZON} frames after {CONTEXT} seen, {NUM_LONG} videos",
    )
    ax = fig.axes[0]
    ax.axvline(
        train_end - CONTEXT,
        color="gray",
        linestyle="-.",
        linewidth=1,
        label="last frame of\na training video",
    )
    fig.legends.clear()  # the legend again, with the line in it
    fig.legend(loc="outside right upper", fontsize="small")
    display(fig)

# %% [markdown]
# The gray dash-dotted line marks the last frame of a training video (frame 20). The ink ratio
# is the mean predicted intensity over the mean true intensity (1: all the ink is still there;
# the blank frame has none). And the frames
# themselves: the seen ones, then evenly spaced frames of the prediction:

# %%
predicted = evaluate.predict_future(model, seen, LONG_HORIZON)
viz.plot_comparison(
    future[0],
    predicted[0],
    context=seen[0],
    title=f"{CHECKPOINT}, test video 0",
)

# %% [markdown]
# As a film (truth | prediction | error, the first 10 frames are the seen ones):

# %%
long_guess = np.concatenate([seen[0], predicted[0]])
viz.show_gif(
    viz.comparison_gif(long_videos[0], long_guess, fps=6, seen=CONTEXT)
)

# %% [markdown]
# Two numbers per frame say whether the prediction is fading or freezing: the share of bright
# pixels (sharp ink) relative to the truth, and the motion, the mean change from one frame to
# the next, relative to the truth's. A model that collapses into a still image, as the course
# report quoted in [Rollout and evaluation](05_rollout_evaluation.ipynb) saw after 6 or 7 frames,
# would show the motion ratio falling towards 0.


# %%
def per_frame(
    video: np.ndarray, last_seen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Share of bright pixels, and mean |frame - previous frame|, per frame
    (averaged over N)."""
    moving = np.concatenate([last_seen, video], axis=1)
    motion = np.abs(np.diff(moving, axis=1)).mean(axis=(0, 2, 3, 4))
    return (video > 0.5).mean(axis=(0, 2, 3, 4)), motion


true_ink, true_motion = per_frame(future, seen[:, -1:])
pred_ink, pred_motion = per_frame(predicted, seen[:, -1:])
print(" frame   SSIM   bright pixels vs truth   motion vs truth")
for t in range(0, LONG_HORIZON, 5 if LONG_HORIZON > 10 else 1):
    ssim = long_result["rollout"]["ssim"][t]
    ink = pred_ink[t] / true_ink[t]
    motion = pred_motion[t] / true_motion[t]
    print(f"{CONTEXT + t + 1:>6} {ssim:6.3f} {ink:>16.0%} {motion:>18.0%}")

# %% [markdown]
# Two helpers that the rest of the chapter uses to compare a rollout's SSIM with a baseline's,
# frame by frame:


# %%
def beats_baseline(result: dict, baseline: str = "blank") -> np.ndarray:
    """Per predicted frame: whether the model's SSIM beats the blank frame's
    (or ``baseline``'s: "copy_last")."""
    return np.array(result["rollout"]["ssim"]) > np.array(
        result[baseline]["ssim"]
    )


def baseline_wins_from(result: dict, baseline: str = "blank") -> str:
    """Where the blank frame's (or ``baseline``'s) SSIM first beats the
    model's (frames of the video, counted from 1)."""
    wins = beats_baseline(result, baseline)
    if wins.all():
        return "never"
    first = int(np.argmin(wins))
    where = "from" if not wins[first:].any() else "first at"
    return f"{where} frame {result['context'] + first + 1}"


# %% tags=["hide-input"]
below = (~beats_baseline(long_result)).sum()
late_ink = np.mean(long_result["rollout"]["ink"][LATE])
since = f" ({baseline_wins_from(long_result)})" if below else ""
display(
    Markdown(f"""
So the shipped model fades. Its SSIM is below the blank frame's at {below}
of the {LONG_HORIZON} predicted frames{since}, and over the second half it
keeps {late_ink:.0%} of the truth's ink (its mean intensity; the sharp, bright
pixels fall further, as the table shows):
the digits dissolve into a faint blob that still drifts but no longer looks
like digits. The causes are general. Each step's small error is fed back in as
input, so errors compound; and a model trained with a per-pixel loss answers
uncertainty with blur, which the next step blurs further. Past the length of
its training videos the model also meets a situation it never saw in training.
""")
)

# %% [markdown]
# ## Scheduled sampling
#
# One remedy attacks the mismatch between training (true inputs) and rollout (own inputs).
# *Scheduled sampling* (Bengio et al., 2015) feeds the model, during training, sometimes the
# true previous frame and sometimes its own prediction of it. Early on it gets the truth (its
# own predictions are useless yet); the probability of the truth then falls as training goes
# on, so the model gradually learns to continue from its own output. OpenSTL trains its ConvLSTM
# this way.
#
# In `nfp_lib` three fields of `TrainConfig` control it (PyTorch backend only):
# `sampling_steps`, the number of optimiser steps over which the probability of the true
# frame falls linearly from 1, `sampling_end`, where it stops, and `context_frames`, the first
# inputs of every video, which are always the true frames (a rollout sees them too; only the
# frames after them are sampled, as in PredRNN). `openstl-s` uses 50,000 steps down to 0.
# `torch_backend.teacher_forcing_probability(step, sampling_steps,
# sampling_end)` is the schedule:

# %%
steps = np.arange(0, 70_001, 1_000)
fig, ax = plt.subplots(figsize=(6, 3))
for sampling_steps, end in ((50_000, 0.0), (20_000, 0.5)):
    p = [
        torch_backend.teacher_forcing_probability(s, sampling_steps, end)
        for s in steps
    ]
    ax.plot(
        steps, p, label=f"sampling_steps={sampling_steps:,}, sampling_end={end}"
    )
ax.set(
    xlabel="optimiser step", ylabel="P(feed the true frame)", ylim=(-0.05, 1.05)
)
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# At every step and for every sequence and frame, a coin with that probability decides what
# goes in. The model is then stepped one frame at a time (`torch_backend.sampled_forward`)
# instead of reading the whole video in one call, and the gradient flows through the fed-back
# predictions too. Here it is live on the `tiny` model, with teacher forcing fading out over
# its first `SAMPLING_STEPS` steps:

# %%
sampled = PRESETS["tiny"].replace(
    train={
        "sampling_steps": SAMPLING_STEPS,
        "sampling_end": 0.0,
        "context_frames": 5,
    }
)
t = sampled.train
steps_per_epoch = -(-t.num_train // t.batch_size)
print(f"{t.epochs} epochs x {steps_per_epoch} steps;")
print("the probability of the true frame per step:")
print(
    [
        round(
            torch_backend.teacher_forcing_probability(
                s, t.sampling_steps, t.sampling_end
            ),
            2,
        )
        for s in range(t.epochs * steps_per_epoch)
    ]
)
with tempfile.TemporaryDirectory() as run:
    history = torch_backend.fit(sampled, run, progress=False)
print("training loss per epoch:", [round(v, 4) for v in history["loss"]])
print("validation loss per epoch:", [round(v, 4) for v in history["val_loss"]])

# %% [markdown]
# That only shows the mechanics: a handful of steps on a tiny model teaches nothing either way.
# The benefit needs a model that already predicts well and thousands of steps (*Trained on its
# own predictions* below measures it), and it has a price: stepping frame by frame is slower
# than one call over the whole video, and the training loss rises while the model learns from
# its own, imperfect inputs. Keras' `fit` implements the same schedule: it trains a
# `SampledModel`, the model stepped frame by frame with the cell the rollout uses, and
# saves the model itself.

# %%
with tempfile.TemporaryDirectory() as run:
    history = keras_backend.fit(sampled, run, progress=False)
print("training loss per epoch:", [round(v, 4) for v in history["loss"]])

# %% [markdown]
# ## Patching for speed
#
# Each ConvLSTM layer is, at every frame, one convolution over the input stacked with the
# hidden state, producing the four gates. For a layer with $F$ filters and a $k \times k$
# kernel on an $H \times W$ grid with $C$ input channels that is
#
# $$
# H \cdot W \cdot k^2 \cdot (C + F) \cdot 4F \;\approx\; 4\, H W F^2 k^2
# $$
#
# multiply-adds per frame. Cutting the frame into $p \times p$ patches (space-to-depth) makes
# the grid $p^2$ times smaller and the input $p^2$ times deeper; since $C$ is small next to $F$,
# the cost falls by almost $p^2$. The `laptop` preset uses $p = 4$: a 64 x 64 frame becomes a
# 16 x 16 grid of 16 channels, so the model is about 16 times cheaper than at full resolution.
# `bench.model_macs` adds up the formula over a `ModelConfig`'s layers (each layer's input is
# the previous layer's output), plus the head and the dynamic filter, as in [A ConvLSTM in
# PyTorch](02_convlstm_pytorch.ipynb):

# %%
from nfp_lib.bench import model_macs

laptop = PRESETS["laptop"]
variants = {
    "laptop (patch 4, 32 filters)": laptop.model,
    "patch 2, 32 filters": laptop.replace(model={"patch_size": 2}).model,
    "patch 1, 32 filters": laptop.replace(model={"patch_size": 1}).model,
}
for name, mc in variants.items():
    print(f"{name:<30} {model_macs(mc) / 1e6:8.0f} M multiply-adds per frame")
full_size = model_macs(PRESETS["convlstm-64"].model) / 1e6
print(f"{'convlstm-64 (full size)':<30} {full_size:8.0f} M")

# %% [markdown]
# Predictions are one thing, measurements another. We time one training step (forward pass,
# BCE loss, backward pass, Adam update) on a small batch, written out in PyTorch, in float32
# for every variant, on a single CPU thread so that the times measure the work rather than how
# the cores are shared:

# %%
clips = data.generate_moving_mnist(STEP_BATCH, num_frames=STEP_FRAMES, seed=0)
x, y = (
    torch_backend.to_tensor(clips[:, :-1]),
    torch_backend.to_tensor(clips[:, 1:]),
)


def train_step_seconds(model_config) -> float:
    """The fastest of REPEATS float32 training steps of a fresh model
    (after one warm-up step)."""
    torch.manual_seed(0)
    net = torch_backend.build_model(model_config)
    optimizer = torch.optim.Adam(net.parameters())

    def step():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    step()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


threads = torch.get_num_threads()
# one CPU thread: time the work, not how busy the machine's cores are
torch.set_num_threads(1)
seconds = {name: train_step_seconds(mc) for name, mc in variants.items()}
torch.set_num_threads(threads)
base = next(iter(variants))
lines = [
    "| model | multiply-adds per frame | x laptop | step time | x laptop |"
]
lines.append("|---|---:|---:|---:|---:|")
for name, mc in variants.items():
    macs = model_macs(mc)
    cost = macs / model_macs(variants[base])
    step_ms = seconds[name] * 1e3
    lines.append(
        f"| {name} | {macs / 1e6:,.0f} M | {cost:.1f} | {step_ms:,.0f} ms "
        f"| {seconds[name] / seconds[base]:.1f} |"
    )
display(Markdown("\n".join(lines)))

# %% [markdown]
# The measured times follow the operation count. They need not match it exactly: the
# convolutions are not all the work (the gate arithmetic and the memory traffic also grow with
# the grid), and a CPU runs small and large convolutions with different efficiency.
#
# Patching is not free: the ConvLSTM decides one thing per 4 x 4 block. The `laptop` model's
# motion head picks one kernel per patch and moves the frame's own pixels with it, so the
# motion is uniform within each 4 x 4 patch: where a digit straddles two patches whose kernels
# disagree, it tears or smears along the patch edge. (A pixel head has a problem of its own: it
# draws a 4 x 4 block of pixels per grid cell, which can leave faint block edges, and fine detail
# must be redrawn by the head.) OpenSTL's ConvLSTM uses the same 4 x 4 patches, so the trade is a
# common one.
#
# ## Pixels or motion
#
# The head is a design choice of its own. A *pixel head* (`motion_kernel=0`, as in the keras-io
# example, OpenSTL and the `plain` preset) draws every pixel of the next frame; a *motion head*
# (`motion_kernel=11` in `laptop`) predicts a small kernel per patch and filters the current
# frame with it, a *dynamic filter network* (De Brabandere et al., 2016). The motion head starts
# from a blurred copy of the last frame instead of a gray one, and keeps the digits sharp
# whenever it gets the motion right. The shipped `plain-torch` and `laptop-torch` differ in the
# head alone (same stack, same training). Their stored evaluations, and that of
# `laptop-masks-torch`, which comes next:


# %%
def stored_scores(name: str) -> None:
    """A shipped checkpoint's stored evaluation (10 frames after 10)."""
    m = pretrained.pretrained_metrics(name)
    rollout, losses = m["rollout"], baseline_wins_from(m)
    print(
        f"{name}: next-frame SSIM {m['next_frame']['ssim']:.3f},\n"
        f"  rollout SSIM {np.mean(rollout['ssim']):.3f}, "
        f"MSE {np.mean(rollout['mse_sum']):5.1f}, "
        f"ink at frame 20 {rollout['ink'][-1]:.2f},\n"
        f"  SSIM below the blank frame's: {losses}; "
        f"below copy-last's: {baseline_wins_from(m, 'copy_last')}"
    )


for name in ("plain-torch", "laptop-torch", "laptop-masks-torch"):
    stored_scores(name)

# %% [markdown]
# But a motion head can only rearrange pixels that are already in the frame, by at most
# `motion_kernel // 2` pixels and with one move per patch, so two overlapping digits that part
# ways, or anything new entering the picture, are beyond it: in long rollouts, digits that
# cross tend to merge into one blob that then moves as one. `motion_masks=M` adds what CDNA
# (Finn et al., 2016) adds: `M` moves per patch and a drawn frame, mixed pixel by pixel by a
# predicted mask. `laptop-masks-torch` above is the `laptop` model with `motion_masks=2`,
# trained the same way (its README tells how its head has to start: with a black drawn frame,
# or training stalls). Its scores are the last ones above; here it continues the
# same 30-frame test rollouts:

# %%
masked_model, _ = pretrained.load_any("laptop-masks-torch")
masked_result = evaluate.evaluate(
    masked_model, long_videos, context=CONTEXT, horizon=LONG_HORIZON
)
for name, r in (
    (CHECKPOINT, long_result),
    ("laptop-masks-torch", masked_result),
):
    ssim = np.mean(r["rollout"]["ssim"][LATE])
    blank = np.mean(r["blank"]["ssim"][LATE])
    ink = np.mean(r["rollout"]["ink"][LATE])
    print(
        f"{name:<19} SSIM, second half {ssim:.3f} (blank {blank:.3f}); "
        f"ink {ink:.2f}"
    )


def show_video_0(rolling_model: object, name: str) -> plt.Figure:
    """Test video 0: the seen frames, the truth, the rollout and its error."""
    guess = evaluate.predict_future(rolling_model, seen[:1], LONG_HORIZON)
    title = f"{name}, test video 0"
    return viz.plot_comparison(
        future[0], guess[0], context=seen[0], title=title
    )


show_video_0(masked_model, "laptop-masks-torch")

# %% tags=["hide-input"]
masked_ink = np.mean(masked_result["rollout"]["ink"][LATE])
masked_below = (~beats_baseline(masked_result)).sum()
ink_verdict = "less" if masked_ink < late_ink else "more"
display(
    Markdown(f"""
Over 10 frames the masks help; over {LONG_HORIZON} they do not save the
model. `laptop-masks-torch` keeps {masked_ink:.0%} of the truth's ink in the
second half, {ink_verdict} than `{CHECKPOINT}` ({late_ink:.0%}), and its SSIM
is below the blank frame's at {masked_below} of the {LONG_HORIZON} frames. Its
digits fade as the plain motion head's do.
""")
)

# %% [markdown]
# ## From the laptop model to the best checkpoint
#
# The laptop models fade; the rest of this part of the chapter is how the book's best checkpoint
# was reached, one measured step at a time, each scored on the same test videos beside the
# blank frame: wider layers trained for longer, training on its own predictions, longer
# rollouts with a loss that does not reward blur, the same arithmetic in wider layers on coarser
# patches, and the mirror images of a video averaged into one prediction. Most steps fine-tune
# the checkpoint before them; the two wider models start afresh, and the run on more varied
# handwriting is a side branch that asks what the model learned.
#
# ### Wider, and trained for longer
#
# The plainest lever of all is more capacity and more training. `wide-masks-torch` is
# `laptop-masks` with twice the filters in each layer (3 x 64 instead of 3 x 32, so about four
# times the weights and the arithmetic of the ConvLSTM layers) trained for 90 epochs instead of
# 17 (preset `wide-masks`; its README says how long that took). Its stored evaluation, beside
# the model it widens:

# %%
for name in ("laptop-masks-torch", "wide-masks-torch"):
    stored_scores(name)

# %% [markdown]
# And the same 30-frame test rollouts as above, frame by frame, all three models against the
# blank frame:

# %%
wide_model, _ = pretrained.load_any("wide-masks-torch")
wide_result = evaluate.evaluate(
    wide_model, long_videos, context=CONTEXT, horizon=LONG_HORIZON
)
long_results = {
    CHECKPOINT: long_result,
    "laptop-masks-torch": masked_result,
    "wide-masks-torch": wide_result,
}
curves = {name: r["rollout"]["ssim"] for name, r in long_results.items()}
fig = viz.plot_metric_curves(
    {**curves, "blank frame": long_result["blank"]["ssim"]},
    "ssim",
    title=f"{LONG_HORIZON} frames after {CONTEXT} seen, {NUM_LONG} videos",
)
display(fig)
show_video_0(wide_model, "wide-masks-torch")

# %% tags=["hide-input"]
ink = {n: np.mean(r["rollout"]["ink"][LATE]) for n, r in long_results.items()}
ssim_early = {
    n: np.mean(r["rollout"]["ssim"][EARLY]) for n, r in long_results.items()
}
wide_wins = beats_baseline(wide_result)
display(
    Markdown(f"""
About four times the arithmetic and five times the epochs buy a better first
half of the rollout (mean SSIM {ssim_early["wide-masks-torch"]:.3f} against
{ssim_early["laptop-masks-torch"]:.3f}) and more ink kept in the second half
({ink["wide-masks-torch"]:.2f} of the truth's against
{ink["laptop-masks-torch"]:.2f}). Over these {LONG_HORIZON} frames it beats
the blank frame's SSIM at {wide_wins.sum()} of them: the digits still drift
from where they should be and blur as they go, and a digit drawn in the wrong
place costs more SSIM than no digit at all. That is where this book's models
stand after about an hour on two CPU cores; the published ConvLSTM figures on
the [Results](07_results.ipynb) page come from far longer training on a GPU.
""")
)


# %% [markdown]
# ### Trained on its own predictions
#
# Every model so far was trained teacher-forced: each input was a true frame, while in a
# rollout each input after the context is the model's own last prediction. The errors it never
# saw in training then pile up. `wide-masks-ss` continues the training of `wide-masks-torch`
# (`init_from` starts a run from a checkpoint's weights) with scheduled sampling, as in the
# section above but for real: the chance of being shown the true frame falls from 1 to 0 over
# the first 1,200 steps, then the model runs free, exactly as in a rollout, and the gradient
# flows back through the frames it fed itself. A final few epochs use L1, as the presets so far
# do. Its stored evaluation, beside the model it started from:

# %%
for name in ("wide-masks-torch", "wide-masks-ss-torch"):
    stored_scores(name)

# %% [markdown]
# The same 30-frame test rollouts, frame by frame, against the model it started from and the blank
# frame:

# %%
free_model, _ = pretrained.load_any("wide-masks-ss-torch")
free_result = evaluate.evaluate(
    free_model, long_videos, context=CONTEXT, horizon=LONG_HORIZON
)
long_results["wide-masks-ss-torch"] = free_result
fig = viz.plot_metric_curves(
    {
        "wide-masks-torch": wide_result["rollout"]["ssim"],
        "wide-masks-ss-torch": free_result["rollout"]["ssim"],
        "blank frame": free_result["blank"]["ssim"],
    },
    "ssim",
    title=f"{LONG_HORIZON} frames after {CONTEXT} seen, {NUM_LONG} videos",
)
display(fig)
show_video_0(free_model, "wide-masks-ss-torch")

# %% tags=["hide-input"]
before = pretrained.pretrained_metrics("wide-masks-torch")["rollout"]
after = pretrained.pretrained_metrics("wide-masks-ss-torch")["rollout"]
mse_before, mse_after = np.mean(before["mse_sum"]), np.mean(after["mse_sum"])
ssim_before, ssim_after = np.mean(before["ssim"]), np.mean(after["ssim"])
ink["wide-masks-ss-torch"] = np.mean(free_result["rollout"]["ink"][LATE])
free_wins = beats_baseline(free_result)
display(
    Markdown(f"""
On the 500 stored test videos, training on its own predictions cut the
rollout's error from {mse_before:.1f} to {mse_after:.1f} (per-frame sum of
squares) and changed its mean SSIM from {ssim_before:.3f} to
{ssim_after:.3f}. Over the {LONG_HORIZON} frames above it keeps
{ink["wide-masks-ss-torch"]:.2f} of the truth's ink in the second half
({ink["wide-masks-torch"]:.2f} before) and beats the blank frame's SSIM at
{free_wins.sum()} of them ({wide_wins.sum()} before). Trained on its own
output, the model learns to continue from imperfect frames; the last epochs'
L1 loss sharpens the digits but lets some fade. Late in the rollout they still
drift and fade, and the blank frame scores higher there.
""")
)

# %% [markdown]
# ### Longer rollouts that keep their ink
#
# `wide-masks-ss` ran free for 10 frames in training, and beyond them it still fades. Two more
# runs continue it on 30-frame clips: 10 seen, then 20 predicted from its own frames, so the
# loss now judges the model where it used to fade.
#
# - `wide-masks-long`: 20 epochs of BCE at a cosine learning rate. It keeps nearly all the ink
#   for 20 frames, but BCE's optimum for a digit whose place is uncertain is a gray smear over
#   the places it could be, and the strokes blur.
# - `wide-masks-long-ssim`: 6 more epochs from that run's weights with `loss="ssim_bce"`,
#   `1 - SSIM + 3 BCE`. SSIM alone sharpens the strokes but, far from the context, lets the
#   model drop the faint ones, and the digits fade again; the BCE term keeps their ink.
#
# ```bash
# python -m nfp_lib train --backend torch --config wide-masks-long \
#     --out runs/wide-masks-long
# python -m nfp_lib train --backend torch --config wide-masks-long-ssim \
#     --out runs/wide-masks-long-ssim
# ```
#
# The checkpoint's README has the figures of the runs tried on the way (BCE alone, SSIM alone,
# two weights of the sum). Its stored evaluation beside the model it started from:

# %%
LONG = "wide-masks-long-ssim-torch"
for name in ("wide-masks-ss-torch", LONG):
    stored_scores(name)

# %% [markdown]
# And on the same 30-frame test rollouts, SSIM and ink ratio frame by frame:


# %%
def compare_long(before: str, after: str) -> None:
    """Roll `after` out 30 frames on the long test videos (its ink in the second
    half into `ink`); plot its SSIM and ink beside `before`'s (and the blank
    frame's SSIM); show test video 0."""
    model, _ = pretrained.load_any(after)
    long_results[after] = evaluate.evaluate(
        model, long_videos, context=CONTEXT, horizon=LONG_HORIZON
    )
    ink[after] = np.mean(long_results[after]["rollout"]["ink"][LATE])
    for metric in ("ssim", "ink"):
        curves = {
            n: long_results[n]["rollout"][metric] for n in (before, after)
        }
        if metric == "ssim":
            curves["blank frame"] = free_result["blank"]["ssim"]
        title = f"{metric}, {LONG_HORIZON} frames after {CONTEXT} seen"
        display(viz.plot_metric_curves(curves, metric, title=title))
    display(show_video_0(model, after))


compare_long("wide-masks-ss-torch", LONG)

# %% tags=["hide-input"]
long_wins = beats_baseline(long_results[LONG])
late_ssim = {
    n: np.mean(long_results[n]["rollout"]["ssim"][LATE])
    for n in ("wide-masks-ss-torch", LONG)
}
better_late = late_ssim[LONG] > late_ssim["wide-masks-ss-torch"]
late_verdict = "its SSIM is higher" if better_late else "its SSIM is lower"
stored_long = pretrained.pretrained_metrics(LONG)["rollout"]
display(
    Markdown(f"""
Over the second half of these {LONG_HORIZON} frames the model keeps
{ink[LONG]:.2f} of the truth's ink ({ink["wide-masks-ss-torch"]:.2f} before
the 30-frame runs). On the 500 stored test videos its rollout error is
{np.mean(stored_long["mse_sum"]):.1f} and its mean SSIM
{np.mean(stored_long["ssim"]):.3f}, against {mse_after:.1f} and
{ssim_after:.3f} before: the digits keep their ink at about the same sharpness
over 10 frames. Where it still fails: it beats the blank frame's SSIM at
{long_wins.sum()} of the {LONG_HORIZON} frames ({free_wins.sum()} before), and
{late_verdict} in the second half ({late_ssim[LONG]:.3f} against
{late_ssim["wide-masks-ss-torch"]:.3f}). The digits it keeps drawing
drift from their true places, and a digit in the wrong place costs more SSIM
than none. Keeping the ink was the easier half; keeping the digits where they
belong for 30 frames needs a model that tracks motion better than this one.
""")
)

# %% [markdown]
# ### The same arithmetic, in wider layers
#
# A ConvLSTM's cost grows with the positions it visits times the square of its width. With 8x8
# patches a 64x64 frame becomes 8x8x64: a quarter of the positions of the 4x4 patches, so
# twice the filters (3 x 128) cost about the same arithmetic per frame, with four times the
# weights to learn the motion with. The motion head still moves pixels by up to 5 per patch,
# now per 8x8 patch. Presets `big-masks`, `big-masks-long` and `big-masks-long-ssim` repeat the
# three steps above on this model: 90 epochs teacher-forced, as `wide-masks`; 24 epochs on
# 30-frame clips, shown its own frames more and more over the first 500 steps and then only
# those (BCE); 6 epochs of `ssim_bce`. Each run starts from the folder of the one before. The
# last run's validation scores were still rising when it ended, so a fourth, `big-masks-more`,
# repeats it for 30 epochs from the shipped `big-masks-long-ssim-torch`, on other videos, and a
# fifth, `big-masks-most`, for 50 more from `big-masks-more-torch`.

# %%
for name in ("wide-masks", "big-masks"):
    mc = PRESETS[name].model
    print(
        f"{name:<10} {mc.filters} filters, {mc.patch_size}x{mc.patch_size} "
        f"patches: {model_macs(mc) / 1e6:.0f} M multiply-adds per frame"
    )

# %% [markdown]
# The three shipped results, `big-masks-long-ssim-torch`, `big-masks-more-torch` and
# `big-masks-most-torch`, beside the best model of the 4x4 patches (the README in the first
# one's folder has the first two runs' scores):

# %%
BIG, MORE = "big-masks-long-ssim-torch", "big-masks-more-torch"
MOST = "big-masks-most-torch"
for name in (LONG, BIG, MORE, MOST):
    stored_scores(name)

# %% [markdown]
# And the longest-trained one on the same 30-frame test rollouts:

# %%
compare_long(LONG, MOST)

# %% tags=["hide-input"]
most_wins = beats_baseline(long_results[MOST])
stored_big = pretrained.pretrained_metrics(BIG)["rollout"]
stored_more = pretrained.pretrained_metrics(MORE)["rollout"]
stored_most = pretrained.pretrained_metrics(MOST)["rollout"]
more_epochs = len(pretrained.pretrained_history(MORE)["epoch"])
most_epochs = len(pretrained.pretrained_history(MOST)["epoch"])
openstl = stored_result("published")["entries"][0]  # OpenSTL's ConvLSTM-S
openstl_macs = model_macs(PRESETS["openstl-s"].model) / model_macs(
    PRESETS["big-masks"].model
)
display(
    Markdown(f"""
At the same arithmetic per frame, the wider layers cut the rollout error on the
500 stored test videos from {np.mean(stored_long["mse_sum"]):.1f} to
{np.mean(stored_big["mse_sum"]):.1f} and moved its mean SSIM from
{np.mean(stored_long["ssim"]):.3f} to {np.mean(stored_big["ssim"]):.3f}; the
{more_epochs} more epochs of the last step took them to
{np.mean(stored_more["mse_sum"]):.1f} and {np.mean(stored_more["ssim"]):.3f},
and {most_epochs} after those to {np.mean(stored_most["mse_sum"]):.1f} and
{np.mean(stored_most["ssim"]):.3f}.
Over these {LONG_HORIZON} frames that model keeps {ink[MOST]:.2f} of the truth's
ink in the second half ({ink[LONG]:.2f}) and beats the blank frame's SSIM at
{most_wins.sum()} of them ({long_wins.sum()}). OpenSTL's ConvLSTM-S reports
{openstl["rollout_mse_sum"]} and {openstl["rollout_ssim_7x7"]} (scikit-image's
SSIM, which scores this model {np.mean(stored_most["ssim_7x7"]):.3f}; see
[Results](07_results.ipynb)), with {openstl_macs:.0f} times the arithmetic per
frame and 200 epochs of 10,000 videos on a GPU.
""")
)


# %% [markdown]
# ### Handwriting it has not seen
#
# Every test so far drew its digits from the 1,797 that the models trained on: new videos, but
# old handwriting. Two other sets ask whether the model learned to move digits or learned these
# digits. The `varied` digits of [Moving MNIST](01_moving_mnist.ipynb) (each digit drawn eight
# other ways: slanted, widened, wobbled, bolder or thinner) are made offline, so the next cell
# scores on them live. The book is built offline, without the MNIST files; the stored file
# `mnist-digits` holds the same evaluation of every shipped checkpoint on 500 videos drawn by
# the same generator from the 10,000 MNIST test digits (its `about` says how it was made).
# The fix is the usual one, more varied training data: preset `big-masks-varied` continues
# `big-masks-most-torch` with the same recipe on the `varied` digits.
#
# ```bash
# python -m nfp_lib train --backend torch --config big-masks-varied \
#     --out runs/big-masks-varied
# python -m nfp_lib evaluate --checkpoint big-masks-varied-torch --digits varied
# ```

# %%
VARIED = "big-masks-varied-torch"
varied_videos = data.generate_moving_mnist(
    NUM_VARIED, num_frames=CONTEXT + 10, seed=TEST_SEED, digits="varied"
)
on_mnist = stored_result("mnist-digits")["results"]
handwriting = {}  # model -> test digits -> evaluation
for name in (MOST, VARIED):
    model, _ = pretrained.load_any(name)
    handwriting[name] = {
        "sklearn": pretrained.pretrained_metrics(name),
        "varied": evaluate.evaluate(model, varied_videos, context=CONTEXT),
        "MNIST": on_mnist[name],
    }
handwriting["blank frame"] = {
    digits: {"rollout": r["blank"]} for digits, r in handwriting[MOST].items()
}
print(f"rollout MSE / SSIM, 10 frames after {CONTEXT}; test digits:")
print(f"{'':<23}{'sklearn':>14}{'varied':>14}{'MNIST':>14}")
for name, scores in handwriting.items():
    cells = [
        f"{np.mean(r['rollout']['mse_sum']):6.1f} / "
        f"{np.mean(r['rollout']['ssim']):.3f}"
        for r in scores.values()
    ]
    print(f"{name:<23}" + "".join(f"{c:>14}" for c in cells))
stored_videos = handwriting[MOST]["MNIST"]["num_sequences"]
print(
    f"sklearn, MNIST: {stored_videos} stored videos; varied: {NUM_VARIED} here"
)

# %% [markdown]
# Frame by frame: the best model on its own digits and on MNIST's, and the model trained on
# the varied digits on MNIST's, with the blank frame on MNIST's:

# %%
curves = {
    f"{MOST}, sklearn digits": handwriting[MOST]["sklearn"]["rollout"]["ssim"],
    f"{MOST}, MNIST": handwriting[MOST]["MNIST"]["rollout"]["ssim"],
    f"{VARIED}, MNIST": handwriting[VARIED]["MNIST"]["rollout"]["ssim"],
    "blank frame": on_mnist[MOST]["blank"]["ssim"],
}
title = f"SSIM, 10 frames after {CONTEXT}, by test digits"
display(viz.plot_metric_curves(curves, "ssim", title=title))


# %% tags=["hide-input"]
def rollout_means(result: dict) -> tuple[float, float]:
    """An evaluation's rollout: mean per-frame-sum MSE and mean SSIM."""
    r = result["rollout"]
    return np.mean(r["mse_sum"]), np.mean(r["ssim"])


scored = {  # (model, test digits) -> rollout means
    (name, digits): rollout_means(result)
    for name, by_digits in handwriting.items()
    for digits, result in by_digits.items()
}
varied_epochs = len(pretrained.pretrained_history(VARIED)["epoch"])
display(
    Markdown(f"""
On its own digits `{MOST}` scores {scored[MOST, "sklearn"][0]:.1f} and
{scored[MOST, "sklearn"][1]:.3f}; on real MNIST digits
{scored[MOST, "MNIST"][0]:.1f} and {scored[MOST, "MNIST"][1]:.3f}, and the
blank frame's SSIM beats it {baseline_wins_from(on_mnist[MOST])}. Part of what
it learned is these 1,797 digits rather than handwriting. {varied_epochs}
epochs on the varied digits take it to {scored[VARIED, "MNIST"][0]:.1f} and
{scored[VARIED, "MNIST"][1]:.3f} on MNIST (the blank frame wins
{baseline_wins_from(on_mnist[VARIED])}), and cost it on the sklearn test
videos, where it now scores {scored[VARIED, "sklearn"][0]:.1f} and
{scored[VARIED, "sklearn"][1]:.3f}: the same weights now cover more shapes.
Real MNIST digits stay harder than ours:
they come in more shapes than eight drawings of 1,797 digits cover, and their
strokes are thinner, so a stroke drawn a pixel off misses more of its ink.
""")
)


# %% [markdown]
# ### Four mirror images, one prediction
#
# A Moving MNIST video mirrored left to right is another Moving MNIST video: the digits are
# mirrored, but they still move in straight lines and bounce off the edges where they did. The
# same holds upside down, and for both flips at once. So a model can be asked one question
# four times: predict the future of each mirror image, mirror each prediction back, and take
# the mean. Where the four guesses agree the mean keeps them; where they err in different
# directions, their errors partly cancel. `ModelConfig.mirror_average` does this inside the
# model, with the same weights (it adds none) and four times the arithmetic per frame; each
# image keeps its own ConvLSTM state, and in a rollout the mean is what all four are fed next.
# `evaluate --mirror-average on` (or `off`) overrides a checkpoint's setting. Our models have
# only seen upright digits, so preset `big-masks-mirror` first trains `big-masks-most-torch`
# further, with the same recipe, on videos mirrored at random (`TrainConfig.mirror`).
# Training runs one pass per video, as dropout trains one thinned network at a time.
#
# ```bash
# python -m nfp_lib train --backend torch --config big-masks-mirror \
#     --out runs/big-masks-mirror
# python -m nfp_lib evaluate --checkpoint big-masks-mirror-torch \
#     --mirror-average off
# ```
#
# One test video: the model's guess for each mirror image (mirrored back), and the rollout of
# the model that averages them:

# %%
MIRROR = "big-masks-mirror-torch"
MIRROR_IMAGES = {
    "as it is": (),
    "left-right": (3,),
    "upside down": (2,),
    "both": (2, 3),
}
mirror_model, _ = pretrained.load_any(MIRROR)
one_pass = backends.with_mirror_average(mirror_model, False)
clip = data.generate_moving_mnist(1, num_frames=CONTEXT + 10, seed=TEST_SEED)
rows = {"truth": clip[0, CONTEXT:]}
for label, axes in MIRROR_IMAGES.items():
    image = np.ascontiguousarray(np.flip(clip[:, :CONTEXT], axes))
    guess = evaluate.predict_future(one_pass, image, 10)
    rows[label] = np.flip(guess, axes)[0]  # mirrored back
averaged = evaluate.predict_future(mirror_model, clip[:, :CONTEXT], 10)
rows["averaged"] = averaged[0]
title = f"{MIRROR}: one test video, 10 frames after {CONTEXT}"
display(viz.plot_rows(rows, first=CONTEXT, max_frames=5, title=title))

# %% [markdown]
# On the 500 stored test videos, both models with the averaging off and on (the stored result
# `mirror-average` holds the two evaluations that are not a checkpoint's own):

# %%
by_mirror = stored_result("mirror-average")["results"]
mirror_rows = {
    f"{MOST}, one pass": pretrained.pretrained_metrics(MOST),
    f"{MOST}, averaged": by_mirror[MOST]["on"],
    f"{MIRROR}, one pass": by_mirror[MIRROR]["off"],
    f"{MIRROR}, averaged": pretrained.pretrained_metrics(MIRROR),
}


def score_table(rows: dict) -> None:
    """Each evaluation's rollout MSE, SSIM and 7x7 SSIM and its next-frame
    SSIM, then the blank and copy-last frames' (the test videos are shared)."""
    lines = {
        k: (m["rollout"], m["next_frame"]["ssim"]) for k, m in rows.items()
    }
    last = list(rows.values())[-1]
    lines["blank frame"] = (last["blank"], None)
    lines["copy last frame"] = (last["copy_last"], None)
    width = max(map(len, lines)) + 1
    print(f"rollout, 10 frames after {CONTEXT}; next-frame SSIM")
    print(f"{'':<{width}}{'MSE':>6}{'SSIM':>7}{'7x7':>7}{'next':>7}")
    for label, (r, next_ssim) in lines.items():
        after = "" if next_ssim is None else f"{next_ssim:7.3f}"
        print(
            f"{label:<{width}}{np.mean(r['mse_sum']):6.1f}"
            f"{np.mean(r['ssim']):7.3f}{np.mean(r['ssim_7x7']):7.3f}{after}"
        )


score_table(mirror_rows)

# %% [markdown]
# The four lines would lie almost on top of each other, so each is drawn as its difference from
# `big-masks-most-torch` in one pass, frame by frame:

# %%
reference = mirror_rows[f"{MOST}, one pass"]["rollout"]
for metric, name in (("mse_sum", "rollout MSE"), ("ssim", "SSIM")):
    curves = {
        label: np.array(m["rollout"][metric]) - reference[metric]
        for label, m in list(mirror_rows.items())[1:]
    }
    title = f"{name} minus {MOST}'s in one pass"
    fig = viz.plot_metric_curves(curves, metric, title=title)
    better = "lower" if metric == "mse_sum" else "higher"
    fig.axes[0].set_ylabel(f"difference ({better} is better)")
    fig.axes[0].axhline(0, color="gray", linewidth=1)
    display(fig)

# %% [markdown]
# And on the 30-frame test rollouts:

# %%
compare_long(MOST, MIRROR)


# %% tags=["hide-input"]
# mirror_rows' order: MOST one pass, averaged; MIRROR one pass, averaged
before, averaged_only, trained_only, both = map(
    rollout_means, mirror_rows.values()
)
mirror_wins = beats_baseline(long_results[MIRROR])
mirror_epochs = len(pretrained.pretrained_history(MIRROR)["epoch"])
display(
    Markdown(f"""
Averaging alone, with no training, takes `{MOST}` from {before[0]:.1f} and
{before[1]:.3f} to {averaged_only[0]:.1f} and {averaged_only[1]:.3f}. After
{mirror_epochs} epochs on mirrored videos the model, run once, scores
{trained_only[0]:.1f} and {trained_only[1]:.3f} on the upright test videos
({"lower" if trained_only[0] < before[0] else "higher"} error than before);
averaged, {both[0]:.1f} and {both[1]:.3f}. The error falls by
{1 - both[0] / before[0]:.0%} in all, the SSIM rises by only
{both[1] - before[1]:.3f}: where the four guesses disagree, their mean is a
blur, which the squared error rewards and the SSIM does not. Over the
{LONG_HORIZON}-frame test rollouts it keeps {ink[MIRROR]:.2f} of the truth's ink
in the second half ({ink[MOST]:.2f} before) and beats the blank frame's SSIM at
{mirror_wins.sum()} of the {LONG_HORIZON} frames ({most_wins.sum()}). Each
prediction costs four passes through the network.
""")
)


# %% [markdown]
# The four passes were trained one at a time and are asked together: nothing taught them to
# be averaged. Preset `big-masks-averaged` trains `big-masks-mirror-torch` on as it predicts
# (`TrainConfig.average_mirrors`): each step runs the four mirror images of every video, takes
# the loss on the mean of their predictions mirrored back, and in the free-running frames
# feeds that mean back. A step on 4 videos then costs what one on 16 did, so the preset shows
# 4 videos a batch and 400 an epoch, at a lower learning rate, for 20 epochs:
#
# ```bash
# python -m nfp_lib train --backend torch --config big-masks-averaged \
#     --out runs/big-masks-averaged
# ```

# %%
AVERAGED = "big-masks-averaged-torch"
averaged_rows = {
    f"{MIRROR}, averaged": mirror_rows[f"{MIRROR}, averaged"],
    f"{AVERAGED}, averaged": pretrained.pretrained_metrics(AVERAGED),
}
score_table(averaged_rows)
compare_long(MIRROR, AVERAGED)

# %% tags=["hide-input"]
untrained, trained = (m["rollout"] for m in averaged_rows.values())
sharper = np.sum(np.array(trained["ssim"]) > untrained["ssim"])
lower = np.sum(np.array(trained["mse_sum"]) < untrained["mse_sum"])
trained_means = rollout_means(averaged_rows[f"{AVERAGED}, averaged"])
averaged_wins = beats_baseline(long_results[AVERAGED])
display(
    Markdown(f"""
Trained through the average, the model scores {trained_means[0]:.1f} and
{trained_means[1]:.3f} ({both[0]:.1f} and {both[1]:.3f} before), with a higher
SSIM at {sharper} and a lower error at {lower} of the 10 horizons. Both
move the right way, by little: the training did not find much that the four
passes, trained alone, had not. Over the {LONG_HORIZON}-frame test rollouts it
keeps {ink[AVERAGED]:.2f} of the truth's ink in the second half
({ink[MIRROR]:.2f} before) and beats the blank frame's SSIM at
{averaged_wins.sum()} of the {LONG_HORIZON} frames ({mirror_wins.sum()}).
Its frames are still blurrier than the best published ConvLSTM's:
scikit-image's SSIM scores it
{np.mean(trained["ssim_7x7"]):.3f}, where OpenSTL's ConvLSTM-S reports
{openstl["rollout_ssim_7x7"]}, and every prediction costs four passes.
""")
)

# %% [markdown]
# Would more of the same help? Preset `big-masks-averaged-more` trains
# `big-masks-averaged-torch` 28 epochs more the same way, on other videos and at a lower
# learning rate:
#
# ```bash
# python -m nfp_lib train --backend torch --config big-masks-averaged-more \
#     --out runs/big-masks-averaged-more
# ```

# %%
AVERAGED_MORE = "big-masks-averaged-more-torch"
more_rows = {
    f"{AVERAGED}, averaged": averaged_rows[f"{AVERAGED}, averaged"],
    f"{AVERAGED_MORE}, averaged": pretrained.pretrained_metrics(AVERAGED_MORE),
}
score_table(more_rows)

# %% tags=["hide-input"]
more_means = rollout_means(more_rows[f"{AVERAGED_MORE}, averaged"])
more_history = pretrained.pretrained_history(AVERAGED_MORE)
extra_epochs = len(more_history["epoch"])
epoch_s = np.median(more_history["time"])
before_epochs = len(pretrained.pretrained_history(AVERAGED)["epoch"])
display(
    Markdown(f"""
{extra_epochs} more epochs ({sum(more_history["time"]) / 60:.0f} minutes on two
Xeon cores in bfloat16; about {extra_epochs * epoch_s / 60:.0f} minutes on quiet
cores, at the median epoch's {epoch_s:.0f} s; see its README) take the error
from {trained_means[0]:.2f} to {more_means[0]:.2f} and the SSIM from
{trained_means[1]:.4f} to {more_means[1]:.4f}; the {before_epochs} epochs
before them had taken them from {both[0]:.2f} and {both[1]:.4f}. Each run buys
less: this recipe is close to what it can give, and a sharper model needs a new
idea (a loss that does not reward blur, a model that draws new pixels better),
not more epochs.
""")
)


# %% [markdown]
# ## GPUs and mixed precision
#
# Everything in this book runs on a CPU; a GPU makes the full-size models practical. With CUDA
# present, `torch_backend.fit` uses it by default (or `device="cuda"`, `--device cuda` on the
# command line) and switches on two things by itself:
#
# - **mixed precision**: the forward pass runs under `torch.autocast` in bfloat16, which halves
#   memory traffic and uses the tensor cores, while the weights, the loss and the optimiser
#   stay in float32 (bfloat16 has float32's range, so no loss scaling is needed);
#   `TrainConfig.mixed_precision=False` turns it off. `fit` does the same on a CPU that computes
#   bfloat16 natively (AVX512-BF16 or AMX, as this book's two cores do), where it made the
#   `laptop` preset's epochs much faster at the same validation SSIM ([Results and
#   performance](07_results.ipynb), "The precision");
# - **channels-last** memory layout for the convolutions, the layout tensor cores prefer.
#
# `torch_backend.fast.train_step` goes two steps further for a fixed batch shape: it records the
# whole training step (forward, backward, Adam) once as a CUDA graph and replays it, and it can
# `torch.compile` the model, which fuses each gate's arithmetic into a few kernels. `fit` does
# not use it yet (a graph needs every batch the same shape, and a schedule that changes the
# learning rate needs it as a tensor); on an H200 it made the keras-io step much faster than the
# plain loop ([Results and performance](07_results.ipynb) has the measured times).
#
# To see what your machine does, the benchmark times a training step, its peak memory and the
# two rollouts for the keras-io model in Keras, the same model in our PyTorch code, and the
# `laptop` model:
#
# ```bash
# python -m nfp_lib bench                      # CPU, a table
# python -m nfp_lib bench --device cuda --json # GPU, one JSON object
# ```
#
# If this notebook runs on a GPU, the next cell times the re-run and the O(T) rollout of the
# full-size `convlstm-64` model there (`bench.time_rollouts`).

# %%
if torch.cuda.is_available():
    rerun_s, ot_s = bench.time_rollouts(PRESETS["convlstm-64"].model, "cuda")
    gpu = torch.cuda.get_device_name()
    print(f"{gpu}: convlstm-64, float32, 10 frames after 10, batch of 5")
    print(
        f"re-run {rerun_s * 1e3:.0f} ms, O(T) {ot_s * 1e3:.0f} ms, "
        f"speed-up {rerun_s / ot_s:.1f}x"
    )
else:
    print(
        "no CUDA GPU here; on Colab choose Runtime > Change runtime type > GPU"
    )

# %% [markdown]
# With several GPUs, start the same training with `torchrun`; `fit` notices the launcher and
# trains data-parallel (PyTorch's `DistributedDataParallel`): each process takes its share of
# every epoch's sequences, gradients are averaged across processes after each step, and only
# the first process writes checkpoints. `batch_size` is per GPU, so the effective batch is N
# times larger.
#
# ```bash
# torchrun --nproc_per_node 4 -m nfp_lib train \
#     --backend torch --config convlstm-64 --out runs/c64
# ```
#
# ## Your own data
#
# ### The published Moving MNIST test set
#
# Papers report numbers on one fixed file of 10,000 Moving MNIST sequences (800 MB, real MNIST
# digits). `data.load_moving_mnist(path)` reads it; without a path it looks in a cache folder
# (`$NFP_CACHE`, else `~/.cache/nfp`) and never downloads on its own. Offline and without the
# file, it raises a `DataUnavailableError` that says what to do:

# %%
try:
    published = data.load_moving_mnist()
    print("found the published test set:", published.shape)
except data.DataUnavailableError as err:
    # the message names this machine's cache folder: show it as ~
    message = str(err).replace(str(Path.home()), "~")
    print(textwrap.fill(f"{type(err).__name__}: {message}", 80))

# %% [markdown]
# `data.load_moving_mnist(download=True)` fetches it once into the cache. The download is
# written to a temporary file and only renamed into place after its MD5 checksum matched the
# published one, so an interrupted download never leaves a broken file behind; the checksum is
# checked again whenever the file is read (pass `md5=None` for a file of your own in the same
# format). The result has the usual `(N, T, H, W, C)` layout, so every function in the book
# takes it, for example `python -m nfp_lib evaluate --checkpoint laptop-torch --data
# ~/.cache/nfp/mnist_test_seq.npy`.
#
# ### A clip of your own
#
# `data.load_video(path)` reads one clip from a `.gif` (converted to grayscale) or a `.npy`
# file as a `(1, T, H, W, 1)` array in [0, 1]. To have a GIF to try, we write one with
# `imageio`: ten frames of a single digit, something the model has not seen (it trained on two
# digits at a time).

# %%
clip_dir = Path(tempfile.mkdtemp(prefix="nfp-clip-"))
frames = data.generate_moving_mnist(
    1, num_frames=CONTEXT, num_digits=1, seed=7
)[0]
# (T, H, W) gray levels 0..255
pixels = np.rint(frames[..., 0] * 255).astype(np.uint8)
iio.imwrite(
    clip_dir / "clip.gif", pixels, extension=".gif", duration=200, loop=0
)

clip = data.load_video(clip_dir / "clip.gif")
print(
    "loaded:",
    clip.shape,
    clip.dtype,
    f"max difference from the frames {np.abs(clip[0] - frames).max():.3f}",
)

# %% [markdown]
# `evaluate.predict_future(model, clip, 10)` continues it by 10 frames (the O(T) rollout). The
# GIF plays the 10 frames of the clip and then the 10 predicted ones (`seen` captions them). A
# PyTorch model takes any frame size that is a multiple of its patch size; a Keras model only
# the size it was built for.

# %%
continued = evaluate.predict_future(model, clip, 10)
print("predicted:", continued.shape)
clip_and_future = np.concatenate([clip[0], continued[0]])
viz.show_gif(viz.to_gif(clip_and_future, fps=4, scale=3, seen=clip.shape[1]))

# %% [markdown]
# The same from a terminal, writing the predicted frames as a GIF (or `--npy` for an array):
#
# ```bash
# python -m nfp_lib predict --checkpoint laptop-torch \
#     --input clip.gif --frames 10 --gif out.gif
# ```
#
# Real videos are a different matter from bouncing digits: colour, textures, camera motion.
# The same models apply (set `ModelConfig.channels=3` for colour), but they need real training
# data, more capacity and a GPU, and with a per-pixel loss the blur seen here only gets worse.
# That is where the field moved on: PredRNN and its successors, and the benchmark of OpenSTL,
# listed on the [References](../references.md) page.

# %% [markdown]
# ## Summary
#
# - Past a few frames, rollouts degrade: each step's error is fed back in, and a per-pixel loss
#   answers uncertainty with blur (BCE, MSE) or fading (L1).
# - Scheduled sampling trains on the model's own predictions; the context frames stay true.
#   Fine-tuning `wide-masks-torch` this way cut its rollout error by about a quarter.
# - Patches make a ConvLSTM cheap enough for a CPU; a motion head moves pixels instead of
#   drawing them, and a compositing head mixes several moves and a drawn frame.
# - Coarser patches buy wider layers at the same arithmetic per frame: 3 x 128 filters on 8x8
#   patches beat 3 x 64 on 4x4 after the same training (the README of `big-masks-long-ssim-torch`
#   scores each step).
#   Longer training still pays, slowly: more epochs of the last fine-tune improved it again.
# - Test on handwriting the model has not seen: trained on the sklearn digits alone, the best
#   model is far worse on real MNIST digits. Training on varied drawings of them closes part
#   of the gap, for some of its score on the digits it knew.
# - A symmetry of the data is an ensemble without new weights: the mean of the predictions for
#   a video's four mirror images, each mirrored back, cut the best model's error further, for
#   four times the arithmetic; training on mirrored videos shows the model the digits it is
#   then asked about, and training through the average (`average_mirrors`), as it predicts,
#   gained a little more; a second such run, less again.
#
# ## Exercises
#
# 1. Train the `tiny` model with scheduled sampling down to 0 and without, for the same steps,
#    and compare their rollouts with `evaluate.evaluate`.
# 2. Time one training step of the `laptop` model with `patch_size` 2 and 4, and compare the
#    ratio with `bench.model_macs`.
# 3. Make a GIF of your own and continue it with `python -m nfp_lib predict --input clip.gif
#    --frames 10 --gif out.gif`.
# 4. Give the `laptop-masks` model `patch_size` 8 and `filters` (64, 64, 64): check with
#    `bench.model_macs` that it costs what the 4 x 4-patch model costs, train both the same way
#    in float32 and score them with `evaluate`. Which wins, and does either beat the blank frame
#    at every horizon? (The `laptop-masks-torch` checkpoint's README records our runs.)
# 5. Train the `laptop` preset once with `digits="sklearn"` and once with `digits="varied"`
#    (a JSON config, or `Config.replace`), and score both with `evaluate --digits varied` and
#    `--digits sklearn`. What does each lose on the other's digits?
# 6. Average over the eight symmetries of the square instead of four: add the four rotations
#    by 90 degrees (`np.rot90`) to the loop above and score `big-masks-mirror-torch` on 50 test
#    videos. Does it help? (Hint: a digit bounces when its 28x28 box meets the edge, not its
#    ink, and these digits are taller than they are wide.)
#
# ## What's next
#
# The last chapter, [Results and performance](07_results.ipynb), gathers the numbers of the shipped
# models next to published figures, and the timings of both backends.
