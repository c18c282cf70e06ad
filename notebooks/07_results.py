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
# `python -m nfp_lib evaluate --checkpoint NAME --json`) and the timings from the stored output
# of `python -m nfp_lib bench --json`.

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
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from nfp_lib import evaluate, viz
from nfp_lib.bench import stored_benchmark
from nfp_lib.pretrained import list_pretrained, pretrained_history, pretrained_metrics

# %% [markdown]
# ## The shipped checkpoints
#
# Every checkpoint was trained with the library's own `train` command; its folder in
# `nfp_lib/checkpoints/` holds the config, the per-epoch log and a README saying where and how
# long it trained.

# %%
checkpoints = list_pretrained()
for name, summary in checkpoints.items():
    print(f"{name:<14} {summary}")

# %% [markdown]
# Each was evaluated on held-out generated sequences (seed 2026; training used other seeds): 10
# frames seen, 10 predicted. *Next frame* is the teacher-forced score, the model always seeing
# the true previous frame; *rollout* feeds the model its own predictions for 10 frames. The
# literature's "MSE" for Moving MNIST is the per-frame **sum** of squared errors over the 64 x 64
# pixels (with pixel values in [0, 1]), averaged over the predicted frames: the `mse_sum` column.
# Beside each model stand the two baselines: the last seen frame repeated, and a blank frame.

# %%
rows = [
    "| checkpoint | next-frame SSIM | rollout SSIM | rollout MSE | ink at frame 20 |",
    "|---|---|---|---|---|",
]
results = {name: pretrained_metrics(name) for name in checkpoints}
for name, m in results.items():
    rows.append(
        f"| {name} | {m['next_frame']['ssim']:.3f} | {np.mean(m['rollout']['ssim']):.3f} "
        f"| {np.mean(m['rollout']['mse_sum']):.1f} | {m['rollout']['ink'][-1]:.2f} |"
    )
any_result = next(iter(results.values()))
for base, label in (("copy_last", "copy last frame"), ("blank", "blank frame")):
    b = any_result[base]
    rows.append(
        f"| *{label}* | | {np.mean(b['ssim']):.3f} | {np.mean(b['mse_sum']):.1f} "
        f"| {b['ink'][-1]:.2f} |"
    )
display(Markdown("\n".join(rows)))
print(f"{any_result['num_sequences']} test sequences; rollout columns: means over the")
print(f"{any_result['horizon']} predicted frames; MSE: the per-frame sum")

# %% [markdown]
# Does each model beat each baseline at every one of the ten horizons?

# %%
for name, m in results.items():
    wins = evaluate.beats_baselines(m)
    print(
        f"{name:<14} copy-last: MSE {wins['copy_last']['mse']}, SSIM {wins['copy_last']['ssim']};"
        f" blank: MSE {wins['blank']['mse']}, SSIM {wins['blank']['ssim']}"
    )

# %% [markdown]
# Per predicted frame, against the baselines:

# %%
for metric in ("mse_sum", "ssim"):
    curves = {name: m["rollout"][metric] for name, m in results.items()}
    curves["copy last frame"] = any_result["copy_last"][metric]
    curves["blank frame"] = any_result["blank"][metric]
    display(viz.plot_metric_curves(curves, metric, title=f"{metric}, shipped checkpoints"))

# %% [markdown]
# ## What fifteen minutes on a CPU buy
#
# The `laptop` preset is meant to train on an ordinary two-core machine in about a quarter of
# an hour. Each checkpoint's `history.json` logs the validation SSIM (teacher-forced, on held-out
# generated sequences) and the wall time of every epoch, validation included, so we can draw
# quality against minutes of training. The goal we set ourselves: next-frame SSIM 0.90 within
# 15 minutes.
#
# Only the two `laptop` checkpoints are drawn: the others trained while other runs shared the
# cores (their READMEs say so), so their minutes are not comparable. Nor are these two quite:
# PyTorch ran its forward passes in bfloat16, Keras in float32, and `laptop-keras` is the older
# 10-epoch preset.

# %%
precision = {"laptop-torch": "bfloat16", "laptop-keras": "float32"}
fig, ax = plt.subplots(figsize=(6, 3.5), layout="tight")
for name in (n for n in precision if n in checkpoints):
    history = pretrained_history(name)
    minutes = np.cumsum(history["time"]) / 60
    label = f"{name} ({precision[name]})"
    ax.plot(minutes, history["val_ssim"], marker="o", markersize=3, label=label)
    print(
        f"{name:<14} {len(minutes)} epochs in {minutes[-1]:.1f} min: "
        f"validation SSIM {history['val_ssim'][-1]:.3f}"
    )
ax.axhline(0.90, color="gray", linestyle="--", linewidth=1, label="goal: SSIM 0.90")
ax.axvline(15, color="gray", linestyle=":", linewidth=1, label="15 minutes")
ax.set_xlabel("minutes of training (2 CPU cores)")
ax.set_title("validation SSIM against minutes of training")
ax.set_ylabel("validation SSIM (higher is better)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# Six choices made most of the difference, each measured on the same two cores (validation SSIM
# after the last epoch; the runs also logged their minutes in `history.json`). All but the two
# marked † used the library's own `train` command; those two ran the same training loop in a
# short script that scored the raw and the averaged weights side by side.
#
# | run: motion head unless noted, 7 epochs of 1,000 sequences, plateau schedule | validation SSIM |
# |---|---|
# | pixel head, BCE, learning rate 0.0015 (the first `laptop` preset: 10 epochs of 2,000) | 0.63 |
# | BCE, learning rate 0.0015 | 0.875 |
# | the same with a cosine schedule | 0.861 |
# | BCE, learning rate 0.005 | 0.885 |
# | BCE, learning rate 0.008 | 0.881 |
# | L1 from the start, learning rate 0.005 | 0.861 |
# | BCE for 6 epochs, then L1 for 1, learning rate 0.005 | 0.894 |
# | 8 epochs of 800, BCE for 7, then L1, learning rate 0.005 | 0.892 |
# | the same, BCE for 6, then L1 for 2 | 0.893 |
# | the same, BCE for 5, then L1 for 3 | 0.891 |
# | the same, SSIM instead of L1 for the last epoch | 0.888 |
# | the same (L1 last), with a cosine schedule | 0.886 |
# | 10 epochs of 800, batch 8, BCE for 9, then L1, rate 0.008 (float32, 14.1 minutes) | 0.895 |
# | the same, SSIM instead of L1 for the last epoch | 0.886 |
# | the same (L1 last) at learning rate 0.006 / 0.011 | 0.893 / 0.891 |
# | the same 10 epochs in bfloat16, PyTorch's unclipped BCE | 0.69, stalled after epoch 1 |
# | the same 10 epochs in bfloat16, BCE clipped as Keras clips it | 0.897 |
# | bfloat16, 14 epochs: BCE for 13, then L1 (11.1 minutes) | 0.901 |
# | bfloat16, 17 epochs: BCE for 16, then L1 (12.9 minutes) | 0.901 |
# | † bfloat16, 17 epochs: BCE for 14, then L1 for 3; raw / averaged weights | 0.903 / 0.907 |
# | † the same, BCE for 11, then L1 for 6; raw / averaged weights | 0.901 / 0.907 |
# | **the `laptop` preset: the same with `train` (13.4 minutes)** | **0.907** |
#
# - **The head.** The first `laptop` model predicted pixels through a sigmoid head and spent
#   its first epochs on the plateau of predicting an empty black frame. The *motion head* (see
#   [A ConvLSTM in PyTorch](02_convlstm_pytorch.ipynb)) predicts where each 4 x 4 patch of the last
#   frame moves instead, so the model starts from a blurred copy of the last frame and only has to
#   learn the motion.
# - **The learning rate.** The motion head tolerates a step size three times larger, which buys
#   more progress per minute. A cosine schedule, which lowers the rate while the model is still
#   improving quickly, lost within this budget.
# - **The loss.** Where does the remaining error come from? On the same frames, a head that picked
#   the best of its 121 shifts for every patch (an oracle that knows the answer) scores SSIM 0.996,
#   so the head is not the limit: the ConvLSTM's estimate of the motion is. Where the estimate is
#   unsure, BCE makes the model hedge between shifts and the prediction blurs
#   ([Training](04_training.ipynb), "The objective"). L1 prefers the likeliest shift, but learns
#   the motion more slowly from scratch; one epoch of L1 after BCE sharpens what BCE learned.
#   Without a weight average, more L1 epochs in place of BCE ones do not help: the score stays
#   within 0.002. Nor does training the last epoch on the score itself (`loss="ssim"`,
#   [Training](04_training.ipynb)): that epoch lifted the score by 0.015 and 0.004 in the two runs
#   where L1 lifted it by 0.017 and 0.013. A cosine schedule spoils the L1 epoch, which then runs
#   at a tiny learning rate: moving from BCE's blur to a sharp guess takes full-size steps.
# - **The batch.** On two cores a batch of 8 costs a fifth less per sequence than a batch of 4
#   in float32 (a step took 0.76 s against 2 x 0.47 s). With half as many steps the learning
#   rate goes up to 0.008.
# - **The precision.** This book's CPU computes bfloat16 natively (AVX512-BF16), and `fit` then
#   runs the forward passes under `torch.autocast` in bfloat16. An epoch took 42-54 s instead of
#   71-94 s, so 17 epochs fit where 10 did. The first bfloat16 run stalled at the
#   copy-the-last-frame level after one good epoch: bfloat16 rounds the motion head's 0.998 to
#   exactly 1, where PyTorch's BCE has a gradient of about $10^{11}$
#   ([Training](04_training.ipynb), "The objective"). Clipped as Keras clips it, bfloat16 trains as
#   float32 does (0.897 against 0.895 after the same 10 epochs).
# - **The weight average.** At a learning rate of 0.008 the weights jitter, and more BCE epochs
#   stopped paying after the twelfth: the 17-epoch run scored 0.887, 0.889, 0.888, 0.886, 0.885
#   in epochs 12 to 16. A moving average of the weights over about the last 100 steps
#   (`ema_decay=0.99`) sits nearer the middle of that jitter: 0.004-0.005 above the raw weights
#   through the BCE epochs, and unlike them it keeps gaining from more L1 epochs.
#
# The shipped run took 13.4 minutes, alone on the machine, and ended at validation SSIM 0.907:
# our goal of 0.90 within 15 minutes is reached, and on the 500 held-out sequences above the
# model scores 0.906 (the previous float32 preset: 0.895 in 14.1 minutes). Its first
# prediction, made before it has seen any motion, scores 0.745; from the fourth frame on it
# scores 0.91 to 0.92. The rollout improved with it: SSIM 0.785 against 0.760 for the previous
# run, and MSE 90.3 against 102.1.

# %% [markdown]
# ## Next to published figures
#
# | model | frames | rollout MSE (sum/frame) | rollout SSIM | next-frame SSIM / PSNR |
# |---|---|---|---|---|
# | ConvLSTM-S, OpenSTL, 200 epochs | 64 x 64, 10 -> 10 | 29.8 | 0.929 | |
# | ConvLSTM-S, OpenSTL, 2000 epochs | 64 x 64, 10 -> 10 | 22.4 | 0.948 | |
# | PredRNN++, OpenSTL | 64 x 64, 10 -> 10 | 14.1 | 0.970 | |
# | ConvLSTM, a PyTorch Lightning project on GitHub | 32 x 32 | | | 0.881 / 22.1 dB |
#
# Two caveats before comparing with the table above. Our test digits are generated from
# scikit-learn's handwritten digits, not MNIST's test set, and they move with our generator's
# speeds; OpenSTL evaluates on its own fixed MNIST-based test set. And OpenSTL's SSIM is
# scikit-image's default (a 7 x 7 uniform window), ours the Gaussian-window SSIM of Wang et al.
# (11 x 11, sigma 1.5). Our evaluations store both (`ssim_7x7` is scikit-image's), so here is
# how far apart they are on the same frames, and the 7 x 7 scores to set beside OpenSTL's:

# %%
scored = {name: m["rollout"] for name, m in results.items()}
scored.update({base: any_result[base] for base in ("copy_last", "blank")})
for name, scores in scored.items():
    if "ssim_7x7" not in scores:
        print(f"{name:<20} no 7 x 7 SSIM stored (evaluated before it was added)")
        continue
    ours, theirs = np.mean(scores["ssim"]), np.mean(scores["ssim_7x7"])
    print(f"{name:<20} SSIM {ours:.3f}, 7 x 7 {theirs:.3f}, difference {theirs - ours:+.3f}")

# %% [markdown]
# OpenSTL's ConvLSTM-S is also much bigger (4 layers of 128 hidden channels, about 12 million
# weights in use) and trained for hundreds of GPU epochs; ours trained for minutes on a
# two-core CPU.

# %% [markdown]
# ## Speed
#
# `python -m nfp_lib bench` times a training step (a batch of 5 sequences of 19 input frames,
# 64 x 64) and a 10-frame rollout for the keras-io example model in stock Keras, our PyTorch
# model with exactly that architecture, and our CPU-friendly "laptop" model; then the O(T)
# rollout against the keras-io style re-run for one causal model. First on this book's two-core
# CPU:

# %%
from nfp_lib.bench import markdown_table

cpu = stored_benchmark("cpu")
print(cpu["command"], "on", cpu["device"])
display(Markdown(markdown_table(cpu)))
print(
    f"rollout of 10 frames after 10: re-run {cpu['rollout_rerun_s']:.2f} s, "
    f"O(T) {cpu['rollout_ot_s']:.2f} s, speed-up {cpu['rollout_speedup']:.1f}x"
)

# %% [markdown]
# On a GPU the same command (`--device cuda`) adds two versions of our PyTorch step for the
# keras-io architecture, from `nfp_lib.torch_backend.fast`:
#
# - **fast**: bf16 autocast, channels-last weights, and the whole step (forward, backward, Adam)
#   recorded once as a CUDA graph and replayed, so Python launches one graph instead of
#   thousands of small kernels;
# - **compiled**: the same with `torch.compile`, which fuses each gate's sigmoids, products and
#   sums into a few kernels.

# %%
gpu = stored_benchmark("cuda")
print(gpu["command"], "on", gpu["device"])
display(Markdown(markdown_table(gpu)))

# %%
step = {case: r["train_step_s"] for case, r in gpu["cases"].items()}
compiled = step["keras-io/torch-compiled"]
print(f"compiled PyTorch step: {step['keras-io/keras'] / compiled:.1f}x faster than stock Keras,")
print(f"{step['keras-io/torch'] / compiled:.1f}x faster than the plain PyTorch loop")

# %% [markdown]
# Larger batches give the GPU more work per kernel. `bench.train_step_flops` counts the
# convolutions' floating-point operations in a step, from which the rate follows; a large bf16
# matrix product reaches about 790 TFLOP/s on this card.

# %%
from nfp_lib.bench import train_step_flops
from nfp_lib.config import PRESETS

sweep = stored_benchmark("cuda-batch")
runs = [
    {"case": case, "batch": gpu["batch"], **r}
    for case, r in gpu["cases"].items()
    if case.startswith("keras-io/torch")
] + sweep["runs"]
rows = ["| case | batch | train step | TFLOP/s | peak memory |", "|---|---|---|---|---|"]
for run in sorted(runs, key=lambda run: (run["case"], run["batch"])):
    flops = train_step_flops(PRESETS["keras-io"].model, batch=run["batch"])
    rows.append(
        f"| {run['case']} | {run['batch']} | {run['train_step_s'] * 1e3:,.1f} ms | "
        f"{flops / run['train_step_s'] / 1e12:.0f} | {run['peak_memory_mb'] / 1024:.1f} GB |"
    )
display(Markdown("\n".join(rows)))

# %% [markdown]
# Read the GPU tables with their arithmetic in mind. One step of the keras-io model is about
# 1.7 TFLOP (forward and backward, mostly the 5 x 5 input convolution at 64 x 64), which the
# H200's bf16 units would do in about 2 ms. The plain PyTorch loop takes 43 ms. Replaying the
# step as a CUDA graph, in bf16, saves little (36 ms), so launching kernels is not the main cost
# at this size: the time is in the kernels themselves. We have not profiled which ones; the
# convolutions run at batch 5, far below the chip's peak, and each gate's arithmetic is several
# separate passes over 64 x 64 x 256 tensors. `torch.compile`, which fuses that arithmetic,
# brings the step to about 20 ms, 11x faster than stock Keras on the torch backend, and still
# ten times the floor. Larger batches do not close the gap: at batch 128 the bf16 CUDA-graph
# step runs at about 60 TFLOP/s, under a tenth of what the card's matrix units do, and no
# faster than the plain float32 loop (whose convolutions use TF32). Batch 128 with
# `torch.compile` was not measured. The fast versions roll out more slowly than the plain one,
# most likely because their weights are channels-last while the rollout feeds ordinary float32
# tensors.

# %% [markdown]
# ## Summary
#
# - Every shipped checkpoint was trained with the library's `train` command and evaluated with
#   `evaluate` on the same held-out videos, beside copy-last and a blank frame.
# - The stored benchmarks time training steps and rollouts on a CPU and on a GPU.
#
# ## Exercises
#
# 1. Run `python -m nfp_lib evaluate --checkpoint laptop-torch --horizon 30` and see where the
#    blank frame overtakes the model.
# 2. Run `python -m nfp_lib bench` on your own machine and set its table beside the stored one.
