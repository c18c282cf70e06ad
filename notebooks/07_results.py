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
# # Results and performance
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nfp-book/nfp/blob/main/notebooks/07_results.ipynb)
#
# This page gathers the numbers: how well the checkpoints that ship with `nfp_lib` predict, next
# to published figures, and how fast the two backends train and roll out. Nothing here is typed
# in by hand: the scores come from the `metrics.json` stored beside each checkpoint (written by
# `python -m nfp_lib evaluate --checkpoint NAME --json`), the timings from the stored output
# of `python -m nfp_lib bench --json`, and the published figures and the log of the runs behind
# the `laptop` preset from JSON files in `nfp_lib/results/`.

# %% [markdown]
# ## Set-up

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
# This page only reads stored results, so it runs in seconds in every mode; `QUICK` is here
# for uniformity with the other chapters.

# %% tags=["parameters"]
import os

QUICK = os.environ.get("NFP_QUICK") == "1"

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from nfp_lib import evaluate, viz
from nfp_lib.bench import stored_benchmark
from nfp_lib.pretrained import (
    list_pretrained,
    pretrained_config,
    pretrained_history,
    pretrained_metrics,
)
from nfp_lib.stored import stored_result

# %% [markdown]
# ## The shipped checkpoints
#
# Every checkpoint was trained with the library's own `train` command; its folder in
# `nfp_lib/checkpoints/` holds the config, the per-epoch log and a README saying where and how
# long it trained.

# %%
checkpoints = list_pretrained()
for name, summary in checkpoints.items():
    print(name)
    print(
        textwrap.fill(summary, 80, initial_indent="  ", subsequent_indent="  ")
    )

# %% [markdown]
# Each was evaluated on held-out generated sequences (seed 2026; training used other seeds): 10
# frames seen, 10 predicted. *Next frame* is the teacher-forced score, the model always seeing
# the true previous frame; *rollout* feeds the model its own predictions for 10 frames. The
# literature's "MSE" for Moving MNIST is the per-frame **sum** of squared errors over the 64 x 64
# pixels (with pixel values in [0, 1]), averaged over the predicted frames: the `mse_sum` column.
# Beside each model stand the two baselines: the last seen frame repeated, and a blank frame.

# %%
rows = [
    "| checkpoint | next-frame SSIM | rollout SSIM | rollout MSE "
    "| ink at frame 20 |",
    "|---|---|---|---|---|",
]


def rollout_cells(scores: dict) -> str:
    """Mean SSIM, mean per-frame-sum MSE and the last frame's ink ratio."""
    ssim, mse = np.mean(scores["ssim"]), np.mean(scores["mse_sum"])
    return f"{ssim:.3f} | {mse:.1f} | {scores['ink'][-1]:.2f}"


results = {name: pretrained_metrics(name) for name in checkpoints}
for name, m in results.items():
    next_frame = m["next_frame"]["ssim"]
    rows.append(
        f"| {name} | {next_frame:.3f} | {rollout_cells(m['rollout'])} |"
    )
any_result = next(iter(results.values()))
for base, label in (("copy_last", "copy last frame"), ("blank", "blank frame")):
    rows.append(f"| *{label}* | | {rollout_cells(any_result[base])} |")
display(Markdown("\n".join(rows)))
print(f"{any_result['num_sequences']} test sequences; rollout columns: means")
print(
    f"over the {any_result['horizon']} predicted frames; MSE: the per-frame sum"
)

# %% [markdown]
# Does each model beat each baseline at every one of the ten horizons?

# %%
width = max(map(len, results))  # the longest checkpoint name
print("better than the baseline at every horizon?")
print(f"{'':{width}} {'copy-last':>15} {'blank frame':>15}")
print(f"{'':{width}} {'MSE':>7} {'SSIM':>7} {'MSE':>7} {'SSIM':>7}")
bases = ("copy_last", "blank")
for name, m in results.items():
    wins = evaluate.beats_baselines(m)
    cells = [wins[b][metric] for b in bases for metric in ("mse", "ssim")]
    print(f"{name:{width}}" + "".join(f" {cell!s:>7}" for cell in cells))

# %% [markdown]
# The held-out videos use other sequences than training did, but the same 1,797 handwritten
# digits. The stored file `mnist-digits` scores every checkpoint on 500 videos drawn the same
# way from real MNIST digits, which the models never saw ([Going
# further](06_going_further.ipynb), "Handwriting it has not seen"):

# %%
on_mnist = stored_result("mnist-digits")
display(Markdown(on_mnist["about"]))
print(
    f"{'rollout on MNIST digits':{width}} {'MSE':>7} {'SSIM':>7}"
    "  beats blank on"
)
mnist_mse = {}  # rollout MSE on MNIST digits, for the summary
for name in results:
    m = on_mnist["results"][name]
    wins = evaluate.beats_baselines(m)["blank"]
    where = " and ".join(k.upper() for k, won in wins.items() if won)
    mse, ssim = np.mean(m["rollout"]["mse_sum"]), np.mean(m["rollout"]["ssim"])
    mnist_mse[name] = mse
    print(f"{name:{width}} {mse:7.1f} {ssim:7.3f}  {where or '-'}")
blank = next(iter(on_mnist["results"].values()))["blank"]
print(
    f"{'blank frame':{width}} {np.mean(blank['mse_sum']):7.1f} "
    f"{np.mean(blank['ssim']):7.3f}"
)
print(
    "beats blank on: the metrics it beats the blank frame on at every horizon"
)

# %% [markdown]
# Per predicted frame, against the baselines. All the checkpoints in one plot would hide each
# other, so they are drawn in two groups by width, the small 3 x 32 models first; the two
# panels of a metric share their y-axis.

# %%
groups = {"32 filters a layer": [], "64 or 128 filters a layer": []}
for name in results:
    wide = pretrained_config(name).model.filters[0] > 32  # the first layer's
    groups[list(groups)[wide]].append(name)
for metric in ("mse_sum", "ssim"):
    baselines = {
        "copy last frame": any_result["copy_last"][metric],
        "blank frame": any_result["blank"][metric],
    }
    every = [*baselines.values()]
    every += [m["rollout"][metric] for m in results.values()]
    low, high = np.min(every), np.max(every)
    pad = 0.05 * (high - low)
    for group, names in groups.items():
        curves = {name: results[name]["rollout"][metric] for name in names}
        fig = viz.plot_metric_curves(
            curves | baselines, metric, title=f"{metric}, {group}"
        )
        fig.axes[0].set_ylim(low - pad, high + pad)
        display(fig)

# %% [markdown]
# ## What fifteen minutes on a CPU buy
#
# The `laptop` preset is meant to train on an ordinary two-core machine in about a quarter of
# an hour. Each checkpoint's `history.json` logs the validation SSIM (teacher-forced, on held-out
# generated sequences) and the wall time of every epoch, validation included, so we can draw
# quality against minutes of training. The goal set for the preset: next-frame SSIM 0.90 within
# 15 minutes.
#
# Only the two `laptop` checkpoints are drawn: the others trained while other runs shared the
# cores (their READMEs say so), so their minutes are not comparable. Nor are these two quite:
# PyTorch ran its forward passes in bfloat16, Keras in float32, and `laptop-keras` is the older
# 10-epoch preset. Beside them, the PyTorch preset once more with bfloat16 switched off
# (`mixed_precision=False`), on an idle AMD Zen 4 (`nfp_lib/results/laptop-float32.json`). The
# legend says which is which.

# %%
GOAL_SSIM, GOAL_MINUTES = 0.90, 15  # the laptop preset's target
precision = {"laptop-torch": "bfloat16", "laptop-keras": "float32"}
float32_run = stored_result("laptop-float32")
runs = {  # printed name -> (legend label, per-epoch log)
    name: (f"{name}, {precision[name]}", pretrained_history(name))
    for name in precision
    if name in checkpoints
}
kind = float32_run["cpu"]["kind"]
runs["float32 rerun"] = (
    f"laptop-torch rerun, float32 ({kind})",
    float32_run["history"],
)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="tight")
for name, (label, history) in runs.items():
    minutes = np.cumsum(history["time"]) / 60
    epochs = len(minutes)
    label = f"{label}, {epochs} epochs"
    ax.plot(minutes, history["val_ssim"], marker="o", markersize=3, label=label)
    print(
        f"{name:<14} {epochs} epochs in {minutes[-1]:.1f} min: "
        f"validation SSIM {history['val_ssim'][-1]:.3f}"
    )
tested = float32_run["evaluate"]
print(
    f"{'':<14} test: next-frame SSIM {tested['next_frame_ssim']:.3f}, "
    f"rollout SSIM {tested['rollout_ssim']:.3f}, "
    f"MSE {tested['rollout_mse_sum']:.1f}"
)
goal = f"goal: SSIM {GOAL_SSIM:.2f}"
ax.axhline(GOAL_SSIM, color="gray", linestyle="--", linewidth=1, label=goal)
ax.axvline(
    GOAL_MINUTES, color="gray", linestyle=":", linewidth=1, label="15 minutes"
)
ax.set_xlabel("minutes of training (2 CPU cores)")
ax.set_title("validation SSIM against minutes of training")
ax.set_ylabel("validation SSIM (higher is better)")
ax.grid(alpha=0.3)
ax.legend(loc="lower right", fontsize="small")
plt.show()

# %% [markdown]
# ## How the `laptop` preset got there
#
# Six choices made most of the difference, each measured on two CPU cores (which CPU is said
# where it matters, under *The precision*). The runs are
# logged in `nfp_lib/results/experiments.json` (their validation SSIM after the last epoch, and
# what else was measured along the way). The text below is written by a cell (open it to see
# how) from that log and from the shipped checkpoint's own files.

# %% tags=["hide-input"]
log = stored_result("experiments")
logged = {r["key"]: r for r in log["runs"] if "key" in r}
found = log["findings"]
torch_log = pretrained_history("laptop-torch")
torch_scores = results["laptop-torch"]
epoch_s = torch_log["time"]
torch_rollout = torch_scores["rollout"]
shipped_minutes = sum(epoch_s) / 60
f32 = logged["float32"]
more_l1 = [r["val_ssim"] for r in log["runs"] if r.get("group") == "more L1"]
step_s = f32["step_s"]
saved = 1 - step_s["batch 8"] / (2 * step_s["batch 4"])
late = logged["bfloat16 17 epochs"]["val_ssim_by_epoch"]
lift = found["last_epoch_lift"]
ema = found["ema_lift"]["value"]
final_ssim = torch_log["val_ssim"][-1]
float32_s = found["float32_epoch_s"]["value"]
float32_minutes = "-".join(
    f"{len(torch_log['epoch']) * s / 60:.0f}"
    for s in sorted(float32_s.values())
)
on_time = shipped_minutes <= GOAL_MINUTES
verdict = "reached" if final_ssim >= GOAL_SSIM and on_time else "missed"


def listed(values):
    """'0.887, 0.889 and 0.888'"""
    text = [f"{v:.3f}" for v in values]
    return ", ".join(text[:-1]) + " and " + text[-1]


def listed_s(seconds):
    """'68 s and 108 s'"""
    return " and ".join(f"{s:.0f} s" for s in seconds.values())


display(
    Markdown(f"""
- **The head.** The first `laptop` model predicted pixels through a sigmoid
  head and spent its first epochs on the plateau of predicting an empty black
  frame: validation SSIM {logged["pixel head"]["val_ssim"]:.2f}. The *motion
  head* (see [A ConvLSTM in PyTorch](02_convlstm_pytorch.ipynb)) predicts
  where each patch of the last frame moves instead, so the model starts from a
  blurred copy of the last frame and only has to learn the motion:
  {logged["motion head"]["val_ssim"]:.3f} after the same kind of run.
- **The learning rate.** The motion head tolerates a larger step size, which
  buys more progress per minute ({logged["rate 0.005"]["val_ssim"]:.3f}). A
  cosine schedule, which lowers the rate while the model is still improving
  quickly, lost within this budget ({logged["cosine"]["val_ssim"]:.3f}).
- **The loss.** Where does the remaining error come from? On the same frames, a
  head that picked the best of its shifts for every patch (an oracle that knows
  the answer) scores SSIM {found["oracle_ssim"]["value"]:.3f}, so the head is
  not the limit: the ConvLSTM's estimate of the motion is. Where the estimate
  is unsure, BCE makes the model hedge between shifts and the prediction blurs
  ([Training](04_training.ipynb), "The objective"). L1 prefers the likeliest
  shift, but learns the motion more slowly from scratch; one epoch of L1 after
  BCE sharpens what BCE learned. Without a weight average, more L1 epochs in
  place of BCE ones do not help: the scores stay within
  {max(more_l1) - min(more_l1):.3f}. Nor does training the last epoch on the
  score itself (`loss="ssim"`): that epoch lifted the score by
  {listed(lift["ssim"])} in the two runs where L1 lifted it by
  {listed(lift["l1"])}.
- **The batch.** On two cores a batch of 8 costs {saved:.0%} less per sequence
  than a batch of 4 in float32 (a step took {step_s["batch 8"]:.2f} s against
  2 x {step_s["batch 4"]:.2f} s), and half as many steps allow a larger rate.
- **The precision.** This book's CPU computes bfloat16 natively, and `fit`
  then runs the forward passes under `torch.autocast` in bfloat16. An epoch of
  `laptop-torch` took {min(epoch_s):.0f}-{max(epoch_s):.0f} s
  where the float32 runs took {f32["epoch_s"][0]}-{f32["epoch_s"][1]} s, so
  {len(torch_log["epoch"])} epochs fit where 10 did. The first bfloat16 run
  stalled at the copy-the-last-frame level after one good epoch
  ({logged["bfloat16 unclipped"]["val_ssim"]:.2f}): bfloat16 rounds predictions
  near 1 to exactly 1, where PyTorch's unclipped BCE has an enormous gradient
  ([Training](04_training.ipynb), "The objective"). Clipped as Keras clips it,
  bfloat16 trains as float32 does ({logged["bfloat16 clipped"]["val_ssim"]:.3f}
  against {f32["val_ssim"]:.3f} after the same 10 epochs). Where bfloat16 is
  not native (`bf16_native` is False) `fit` stays in float32: an epoch took
  {listed_s(float32_s)} on two cores of an {" and an ".join(float32_s)},
  so the {len(torch_log["epoch"])} epochs take {float32_minutes} minutes there.
  The float32 epochs above were timed with an earlier version of the library.
  Today's preset in float32 on an idle {float32_run["cpu"]["kind"]}, which has
  bfloat16, took {np.sum(float32_run["history"]["time"]) / 60:.1f} minutes (the
  plot above) and scored as `laptop-torch` does: there bfloat16 buys little.
- **The weight average.** At a high learning rate the weights jitter, and more
  BCE epochs stopped paying: a 17-epoch run scored {listed(late.values())} in
  epochs {min(late)} to {max(late)}. A moving average of the weights
  (`ema_decay=0.99`) sits nearer the middle of that jitter, {ema[0]:.3f} to
  {ema[1]:.3f} above the raw weights through the BCE epochs, and unlike them it
  keeps gaining from more L1 epochs.

The shipped run took {shipped_minutes:.1f} minutes, alone on the machine, and
ended at validation SSIM {final_ssim:.3f}: the goal of
{GOAL_SSIM:.2f} within {GOAL_MINUTES} minutes is
{verdict}. On the
{torch_scores["num_sequences"]} held-out sequences above it scores
{torch_scores["next_frame"]["ssim"]:.3f} (the previous float32 preset:
{f32["held_out"]["next_frame_ssim"]:.3f} in {f32["minutes"]:.1f} minutes).
The rollout improved with it: SSIM {np.mean(torch_rollout["ssim"]):.3f}
against {f32["held_out"]["rollout_ssim"]:.3f} for the previous run, and MSE
{np.mean(torch_rollout["mse_sum"]):.1f} against
{f32["held_out"]["rollout_mse_sum"]:.1f}.
""")
)

# %% [markdown]
# The whole log, folded (open the cell's output): the setting is the first line, † marks the
# runs that scored the raw and the averaged weights side by side, and the last row is the
# shipped checkpoint itself.

# %% tags=["hide-output"]
rows = [
    f"| run ({log['setting']}) | precision | minutes | validation SSIM |",
    "|---|---|---|---|",
]
for r in log["runs"]:
    mark = "† " if r.get("script") else ""
    minutes = f"{r['minutes']:.1f}" if "minutes" in r else ""
    ssim = f"{r['val_ssim']:g}"
    if "val_ssim_averaged" in r:
        ssim += f" raw, {r['val_ssim_averaged']:g} averaged"
    precision = r.get("precision", "float32")
    rows.append(f"| {mark}{r['run']} | {precision} | {minutes} | {ssim} |")
rows.append(
    f"| **the `laptop` preset with `train` (`laptop-torch`)** | bfloat16 "
    f"| {shipped_minutes:.1f} | **{final_ssim:.3f}** |"
)
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Next to published figures
#
# `nfp_lib/results/published.json` keeps the figures other works report on Moving MNIST, each
# with its source, its data and how it was measured:

# %%
published = stored_result("published")
columns = {  # two figures a column, so the table fits the page
    "rollout MSE, SSIM": ("rollout_mse_sum", "rollout_ssim_7x7"),
    "next-frame SSIM, PSNR": ("next_frame_ssim", "next_frame_psnr_db"),
}
rows = [
    "| model | source | data | " + " | ".join(columns) + " |",
    "|---" * (3 + len(columns)) + "|",
]
for entry in published["entries"]:
    figures = [
        ", ".join(f"{entry[key]:g}" for key in keys if key in entry)
        for keys in columns.values()
    ]
    source = f"[{entry['name']}]({entry['url']})"
    cells = [entry["model"], source, entry["data"], *figures]
    rows.append("| " + " | ".join(cells) + " |")
display(Markdown("\n".join(rows)))
sources = {entry["name"]: entry["source"] for entry in published["entries"]}
for name, source in sources.items():
    print(textwrap.fill(f"{name}: {source}", 80, subsequent_indent="  "))
for key, meaning in published["metrics"].items():
    print(textwrap.fill(f"{key}: {meaning}", 80, subsequent_indent="  "))

# %% [markdown]
# Two caveats before comparing with the table above. Our test digits are generated from
# scikit-learn's handwritten digits, not MNIST's test set, and they move with our generator's
# speeds; OpenSTL evaluates on its own fixed MNIST-based test set. And OpenSTL's SSIM is
# scikit-image's default (a 7 x 7 uniform window), ours the Gaussian-window SSIM of Wang et al.
# (11 x 11, sigma 1.5). Our evaluations store both (`ssim_7x7` is scikit-image's), so here is
# how far apart they are on the same frames, and the 7 x 7 scores to set beside OpenSTL's:

# %%
scored = {name: m["rollout"] for name, m in results.items()}
scored.update({base: any_result[base] for base in ("copy_last", "blank")})
width = max(map(len, scored))
for name, rollout in scored.items():
    ours, theirs = np.mean(rollout["ssim"]), np.mean(rollout["ssim_7x7"])
    print(
        f"{name:<{width}} SSIM {ours:.3f}, 7 x 7 {theirs:.3f}, "
        f"difference {theirs - ours:+.3f}"
    )

# %% tags=["hide-input"]
openstl = published["entries"][0]
rollout_mse = {
    name: np.mean(m["rollout"]["mse_sum"]) for name, m in results.items()
}
best = min(rollout_mse, key=rollout_mse.get)
best_rollout = results[best]["rollout"]
mirrors = pretrained_config(best).model.mirror_average
how = "(the mean of its guesses for four mirror images) " if mirrors else ""
display(
    Markdown(f"""
OpenSTL's ConvLSTM-S is also much bigger ({openstl["architecture"]}) and
trained for hundreds of GPU epochs; ours trained for minutes to hours on a
two-core CPU. Our lowest rollout error, `{best}`'s
{how}is
{rollout_mse[best]:.1f} with a 7 x 7 SSIM of
{np.mean(best_rollout["ssim_7x7"]):.3f}, against its
{openstl["rollout_mse_sum"]} and {openstl["rollout_ssim_7x7"]}. On real MNIST
digits, nearer to OpenSTL's test set, the same model scores
{mnist_mse[best]:.1f} and
{np.mean(on_mnist["results"][best]["rollout"]["ssim_7x7"]):.3f}.
""")
)

# %% [markdown]
# ## Speed
#
# `python -m nfp_lib bench` times a training step (a batch of 5 sequences of 19 input frames,
# 64 x 64) and a 10-frame rollout for the keras-io example model in stock Keras, our PyTorch
# model with exactly that architecture, and our CPU-friendly "laptop" model; then the O(T)
# rollout against the keras-io style re-run for one causal model. Every case on the CPU runs in
# float32, with the same batch. First on this book's two-core CPU:

# %%
from nfp_lib.bench import markdown_table

cpu = stored_benchmark("cpu")
print(textwrap.fill(f"{cpu['command']} on {cpu['device']}", 80))
load = cpu["load_average"]
print(
    f"one-minute load average at the end: {load:.2f} ({cpu['threads']} threads)"
)
display(Markdown(markdown_table(cpu)))
print(
    f"rollout of 10 frames after 10: re-run {cpu['rollout_rerun_s']:.2f} s, "
    f"O(T) {cpu['rollout_ot_s']:.2f} s, speed-up {cpu['rollout_speedup']:.1f}x"
)

# %% [markdown]
# ### Training throughput on two CPU cores
#
# A reader waits for training, so `bench` also counts the sequences per second that a training
# step gets through (float32, the `laptop` preset at batch 8 and the keras-io model at batch 5)
# and how fast `evaluate` scores 500 held-out sequences, against the plain way of doing the
# same: the teacher-forced predictions and the rollout in two passes through the model, and
# every metric in a pass of its own. `evaluate` runs the ten seen frames through the model once
# for both, and computes all metrics of a forecast in one pass, the two SSIM windows sharing
# their products. It records the CPU's model and whether it computes bf16 natively, because
# the same command gives other figures on another CPU. Each training case runs two ways in
# turns: the whole batch on both threads, and the batch cut into one slice per thread
# (`nfp_lib.torch_backend.parallel.thread_slices`). The stored run:

# %%
fast = stored_benchmark("cpu-fast")
info = fast["cpu"]
print(textwrap.fill(f"{info['model']}, {info['cores']} cores", 80))
print(textwrap.fill("flags: " + ", ".join(info["flags"]), 80))
print(f"bf16 native: {info['bf16_native']}")
print(f"shared with other work? {fast['shared_machine']}")
rows = [
    "| model | batch | whole batch | slices | thread slices | slices / whole |",
    "|---|---|---|---|---|---|",
]
for name, run in fast["training"].items():
    rows.append(
        f"| {name} | {run['batch']} | {run['eager_seq_per_s']:.2f} seq/s "
        f"| {run['fast_slices']} | {run['fast_seq_per_s']:.2f} seq/s "
        f"| {run['speedup']:.2f}x |"
    )
display(Markdown("\n".join(rows)))
timed = fast["evaluation"]
print(
    f"evaluate, {timed['sequences']} sequences of {timed['checkpoint']}: "
    f"{min(timed['evaluate_s']):.1f} s; the plain way "
    f"{min(timed['plain_s']):.1f} s ({timed['speedup']:.1f}x)"
)

# %% tags=["hide-input"]
laptop_run = fast["training"]["laptop"]
step_s = laptop_run["batch"] / laptop_run["eager_seq_per_s"]
display(
    Markdown(f"""
On this idle machine the whole batch is the faster way
({laptop_run["eager_seq_per_s"]:.1f} against
{laptop_run["fast_seq_per_s"]:.1f} sequences a second), so `fit` uses it; a
`laptop` step takes about {step_s:.2f} s. Thread slices pay only when
something else competes for the cores, which is why they are opt-in. Most of
the step is in the ConvLSTM's convolutions, which PyTorch already hands to
oneDNN's tuned kernels: a much faster step needs fewer operations (a smaller
model, or bf16 where the CPU computes it natively), not a cleverer loop.
""")
)

# %% [markdown]
# On a GPU the same command (`--device cuda`) adds two versions of our PyTorch step for the
# keras-io architecture, from `nfp_lib.torch_backend.fast`. The stock Keras and the plain
# PyTorch cases run in float32 there too (PyTorch lets the GPU's convolutions use TF32); the two
# new ones in bf16:
#
# - **fast**: bf16 autocast, channels-last weights, and the whole step (forward, backward, Adam)
#   recorded once as a CUDA graph and replayed, so Python launches one graph instead of
#   thousands of small kernels;
# - **compiled**: the same with `torch.compile`, which fuses each gate's sigmoids, products and
#   sums into a few kernels.

# %%
gpu = stored_benchmark("cuda")
print(textwrap.fill(f"{gpu['command']} on {gpu['device']}", 80))
display(Markdown(markdown_table(gpu)))

# %%
step = {case: r["train_step_s"] for case, r in gpu["cases"].items()}
compiled = step["keras-io/torch-compiled"]
keras_x = step["keras-io/keras"] / compiled
torch_x = step["keras-io/torch"] / compiled
print(f"compiled PyTorch step: {keras_x:.1f}x faster than stock Keras,")
print(f"{torch_x:.1f}x faster than the plain PyTorch loop")

# %% [markdown]
# Larger batches give the GPU more work per kernel. `bench.train_step_flops` counts the
# convolutions' floating-point operations in a step, from which the rate follows.

# %%
from nfp_lib.bench import train_step_flops
from nfp_lib.config import PRESETS

sweep = stored_benchmark("cuda-batch")
runs = [
    {"case": case, "batch": gpu["batch"], **r}
    for case, r in gpu["cases"].items()
    if case.startswith("keras-io/torch")
] + sweep["runs"]
rows = [
    "| case | batch | train step | TFLOP/s | peak memory |",
    "|---|---|---|---|---|",
]
for run in sorted(runs, key=lambda run: (run["case"], run["batch"])):
    flops = train_step_flops(PRESETS["keras-io"].model, batch=run["batch"])
    step_ms = run["train_step_s"] * 1e3
    tflops = flops / run["train_step_s"] / 1e12
    memory_gb = run["peak_memory_mb"] / 1024
    rows.append(
        f"| {run['case']} | {run['batch']} | {step_ms:,.1f} ms | "
        f"{tflops:.0f} | {memory_gb:.1f} GB |"
    )
display(Markdown("\n".join(rows)))

# %% [markdown]
# Read the GPU tables with their arithmetic in mind: the cell below sets each time beside the
# floor that the card's peak rate allows, from the card's datasheet (stored with the published
# figures).

# %% tags=["hide-input"]
keras_io = PRESETS["keras-io"].model
flops = train_step_flops(keras_io, batch=gpu["batch"])
card = published["hardware"]["NVIDIA H200"]
peak = card["bf16_dense_tflops"] * 1e12
floor_ms = flops / peak * 1e3
ms = {case: s * 1e3 for case, s in step.items()}
by_batch = {(r["case"], r["batch"]): r["train_step_s"] for r in runs}
fast_128 = by_batch[("keras-io/torch-fast", 128)]
plain_128 = by_batch[("keras-io/torch", 128)]
rate_128 = train_step_flops(keras_io, batch=128) / fast_128
display(
    Markdown(f"""
One step of the keras-io model is about {flops / 1e12:.1f} TFLOP (forward and
backward, mostly the 5 x 5 input convolution at 64 x 64), which the H200's bf16
units would do in about {floor_ms:.0f} ms at the datasheet's peak of
{card["bf16_dense_tflops"]} TFLOP/s. The plain PyTorch loop takes
{ms["keras-io/torch"]:.0f} ms. Replaying the step as a CUDA graph, in bf16,
saves little ({ms["keras-io/torch-fast"]:.0f} ms), so launching kernels is not
the main cost at this size: the time is in the kernels themselves (the
profile below shows which), and each gate's arithmetic is several separate
passes over 64 x 64 x 256 tensors. `torch.compile`, which fuses that arithmetic,
brings the
step to about {ms["keras-io/torch-compiled"]:.0f} ms,
{ms["keras-io/keras"] / ms["keras-io/torch-compiled"]:.0f}x faster than stock
Keras on the torch backend, and still
{ms["keras-io/torch-compiled"] / floor_ms:.0f} times the floor. Larger batches
do not close the gap: at batch 128 the bf16 CUDA-graph step runs at about
{rate_128 / 1e12:.0f} TFLOP/s, {rate_128 / peak:.0%} of the datasheet's peak,
and no faster than the plain float32 loop, whose convolutions use TF32
({fast_128:.2f} s against {plain_128:.2f} s a step). The fast versions roll
out more slowly than the plain one, most likely because their weights are
channels-last while the rollout feeds ordinary float32 tensors.
""")
)

# %% [markdown]
# ### Where the GPU's time goes
#
# `python -m nfp_lib.gpu_profile` profiles the fast step once without its graph (a replayed
# graph hides its kernels from the profiler) and sorts every kernel by kind: cuDNN's
# convolutions, batch norm, cuDNN's layout conversions, copies (among them the `cat([x, h])`
# before every gate convolution), PyTorch's element-wise kernels, the kernels `torch.compile`
# fused, and Adam. The first profiles found one kernel larger than any other: the weight
# gradient of the 3 x 3 x 3 head, which cuDNN computed with a slow direct kernel for its single
# output channel. The same sums as one 2-D convolution over each frame stacked with its two
# neighbours (`model.conv3d_as_conv2d`, which the model now uses on CUDA) take a fraction of
# the time. The figure shows the step before and after, kernel time per step by kind.

# %% tags=["hide-input"]
profile = stored_benchmark("cuda-profile")
cases = profile["cases"]
kinds = list(cases[0]["by_kind_s"])
labels = [
    f"batch {c['batch']}, {c['variant']}, "
    f"{'stacked' if c['head'] == 'stacked' else '3-D'} head"
    for c in cases
]
fig, axes = plt.subplots(2, 1, figsize=(8, 6.5), layout="constrained")
for ax, small in zip(axes, (True, False), strict=True):
    rows = [i for i, c in enumerate(cases) if (c["batch"] == 5) == small]
    left = np.zeros(len(rows))
    for kind in kinds:
        width = np.array([cases[i]["by_kind_s"][kind] * 1e3 for i in rows])
        ax.barh(range(len(rows)), width, left=left, label=kind)
        left += width
    ax.set_yticks(range(len(rows)), [labels[i] for i in rows])
    ax.invert_yaxis()
    ax.set_xlabel("GPU time per step (ms)")
handles, names = axes[0].get_legend_handles_labels()
fig.legend(handles, names, loc="outside lower center", ncols=4)
fig.suptitle("keras-io training step on an H200: kernel time by kind")
plt.show()

# %% tags=["hide-input"]
by_case = {(c["batch"], c["variant"], c["head"]): c for c in cases}
old5, new5 = by_case[5, "compiled", "conv3d"], by_case[5, "compiled", "stacked"]
old128, new128 = by_case[128, "fast", "conv3d"], by_case[128, "fast", "stacked"]
b32, c128 = by_case[32, "fast", "conv3d"], by_case[128, "compiled", "conv3d"]
head5 = profile["head_s"]["5"]
display(
    Markdown(f"""
The head's forward and backward pass alone took
{head5["transposed"] * 1e3:.1f} ms as a 3-D convolution at batch 5 and
{head5["stacked"] * 1e3:.1f} ms stacked. The compiled step went from
{old5["step_s"] * 1e3:.1f} ms to {new5["step_s"] * 1e3:.1f} ms (one profiled
step each; the bench table above timed the 3-D head with its own timer), still
above the 15 ms set as this step's target on a GPU: what is left is the
convolutions themselves
({new5["by_kind_s"]["convolution"] * 1e3:.1f} ms), the kernels
`torch.compile` fused ({new5["by_kind_s"]["fused"] * 1e3:.1f} ms) and copies
({new5["by_kind_s"]["copy"] * 1e3:.1f} ms). At batch 128 the convolutions now
run at {new128["conv_tflops"]:.0f} TFLOP/s,
{new128["conv_share_of_peak"]:.0%} of the datasheet's bf16 peak
({old128["conv_share_of_peak"]:.0%} with the 3-D head; at batch 32
{b32["conv_share_of_peak"]:.0%}), but they are only
{new128["by_kind_s"]["convolution"] / new128["ungraphed_kernel_s"]:.0%} of the
step: copies and unfused element-wise kernels take most of the rest, which
`torch.compile` fuses in part (compiled, with the 3-D head, batch 128 took
{c128["step_s"]:.2f} s a step against {old128["step_s"]:.2f} s). Two caveats:
each figure is one profiled step of one run, and cuDNN's autotuner can pick
other kernels on another run.
""")
)

# %% [markdown]
# ## Summary

# %% tags=["hide-input"]
copy_last = torch_scores["copy_last"]
own_mse = {n: np.mean(m["rollout"]["mse_sum"]) for n, m in results.items()}
display(
    Markdown(f"""
- Every shipped checkpoint was trained with the library's `train` command and
  evaluated with `evaluate` on the same held-out videos, beside copy-last and a
  blank frame. The `laptop` preset's model, `laptop-torch`, trained for
  {shipped_minutes:.1f} minutes on two CPU cores (bfloat16) and predicts 10
  frames with mean SSIM {np.mean(torch_rollout["ssim"]):.3f}, where copying the
  last frame scores {np.mean(copy_last["ssim"]):.3f}.
- The motion head, batches of 8, a larger learning rate, an L1 finish,
  bfloat16 and a weight average took the `laptop` preset from validation SSIM
  {logged["pixel head"]["val_ssim"]:.2f} to {final_ssim:.3f}.
- On real MNIST digits, which no model saw, every checkpoint scores worse than
  on its own: the best rollout error there is
  {min(mnist_mse.values()):.1f} ({min(mnist_mse, key=mnist_mse.get)}), against
  {min(own_mse.values()):.1f} on the held-out videos.
- Published ConvLSTMs score higher on their own test set, with a model tens of
  times larger and hundreds of GPU epochs.
- On an H200, a compiled bf16 PyTorch step of the keras-io model is
  {keras_x:.0f}x faster than stock Keras in float32, and still
  {ms["keras-io/torch-compiled"] / floor_ms:.0f} times the floor the card's
  peak allows. A profile found the 3-D head's weight gradient to be the largest
  kernel; computing the head as a stacked 2-D convolution took the compiled
  step to {new5["step_s"] * 1e3:.1f} ms.
""")
)

# %% [markdown]
# ## Exercises
#
# 1. Run `python -m nfp_lib evaluate --checkpoint laptop-torch --horizon 30` and see where the
#    blank frame overtakes the model.
# 2. Run `python -m nfp_lib bench` on your own machine and set its table beside the stored one.
