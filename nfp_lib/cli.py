"""The command line: ``python -m nfp_lib {train,evaluate,predict,pretrained,bench}``.

Thin by design: parse, call the library, print. Bad input, a file that cannot be read or
written, a missing device or a full disk ends with a one-line message and exit code 2; Ctrl-C
with one line and exit code 130 (a training keeps its last committed epoch); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np

from nfp_lib.config import DIGIT_SOURCES, MAX_DATA_BYTES, MAX_FRAMES
from nfp_lib.data import DataUnavailableError
from nfp_lib.pretrained import load_any
from nfp_lib.validation import describe_error

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130
MAX_PREDICTED_FRAMES = 1000
OUT_OF_MEMORY = "out of memory: the input or the model is too large for this machine"


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        _error(f"interrupted{_kept(args)}", "nfp:")
        return EXIT_INTERRUPTED
    except (ValueError, DataUnavailableError) as err:
        _error(str(err))
    except OSError as err:
        _error(f"{err.filename}: {describe_error(err)}" if err.filename else describe_error(err))
    except MemoryError:
        _error(OUT_OF_MEMORY)
    except RuntimeError as err:  # torch's allocators raise these
        if not any(words in str(err) for words in ("out of memory", "can't allocate memory")):
            raise
        _error(OUT_OF_MEMORY)
    return EXIT_BAD_INPUT


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line too (argparse prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        _error(f"{message} (see {self.prog} --help)")
        sys.exit(EXIT_BAD_INPUT)


def _error(message: str, prefix: str = "nfp: error:") -> None:
    """One line on stderr, however many lines ``message`` had."""
    print(f"{prefix} {' '.join(message.split())[:1000]}", file=sys.stderr)


def _kept(args: argparse.Namespace) -> str:
    """What an interrupted training left: its committed epoch."""
    if getattr(args, "run", None) is not _train:
        return ""
    from nfp_lib.runs import committed_epoch

    try:
        epoch = committed_epoch(args.out)
    except (ValueError, OSError):
        return ""
    if not epoch:
        return f"; {args.out} holds no committed epoch"
    return f"; {args.out} holds epoch {epoch}, continue it with --resume"


def _train(args: argparse.Namespace) -> int:
    from nfp_lib.backends import backend_module
    from nfp_lib.config import load_config

    config = load_config(args.config)
    overrides = {
        "epochs": args.epochs,
        "num_train": args.num_train,
        "batch_size": args.batch_size,
    }
    config = config.replace(train={k: v for k, v in overrides.items() if v is not None})
    if args.device is not None and args.backend != "torch":
        raise ValueError(
            f"--device: only the torch backend takes a device, got --backend {args.backend}"
        )
    backend = backend_module(args.backend)
    kwargs = {"device": args.device} if args.backend == "torch" else {}
    history = backend.fit(
        config,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        **kwargs,
    )
    if history and history.get("epoch"):
        last = {key: values[-1] for key, values in history.items()}
        print(json.dumps({"out": str(args.out), "last_epoch": last}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from nfp_lib import data
    from nfp_lib.backends import with_mirror_average
    from nfp_lib.evaluate import evaluate
    from nfp_lib.validation import check_positive_int

    for flag in ("num_sequences", "context", "horizon"):
        check_positive_int(getattr(args, flag), f"--{flag.replace('_', '-')}")
    frames = args.context + args.horizon
    if frames > MAX_FRAMES:
        raise ValueError(
            f"--context, --horizon: expected at most {MAX_FRAMES} frames, got {frames}"
        )
    model, config = load_any(args.checkpoint)
    if args.mirror_average:
        model = with_mirror_average(model, args.mirror_average == "on")
    if args.num_sequences * frames * config.train.image_size**2 * 4 > MAX_DATA_BYTES:
        raise ValueError(
            f"--num-sequences: {args.num_sequences} sequences of {frames} frames would take more "
            f"than {MAX_DATA_BYTES // 2**30} GiB"
        )
    if args.data == "generated":
        video = data.generate_moving_mnist(
            args.num_sequences,
            num_frames=args.context + args.horizon,
            size=config.train.image_size,
            seed=args.seed,
            digits=args.digits,
        )
    else:
        video = data.load_moving_mnist(
            Path(args.data), md5=None if args.no_md5 else data.MOVING_MNIST_MD5
        )
        video = video[: args.num_sequences, : args.context + args.horizon]
    _check_frame_size(video, config, f"--data {args.data}")
    result = evaluate(model, video, context=args.context, horizon=args.horizon)
    if args.json:
        print(json.dumps(result))
    else:
        print(_format_evaluation(result))
    return 0


def _format_evaluation(result: dict) -> str:
    seen, predicted = result["seen_frames"], result["predicted_frames"]
    lines = [
        f"{result['num_sequences']} sequences: frames {seen[0]}-{seen[-1]} seen, "
        f"{predicted[0]}-{predicted[-1]} predicted (counted from 0)",
        "next frame (teacher forced): "
        + ", ".join(f"{k} {v:.4f}" for k, v in result["next_frame"].items()),
        "         SSIM                   MSE (sum per frame)       ink",
        "ahead   model   copy  blank     model    copy   blank   model",
    ]
    roll, copy, blank = result["rollout"], result["copy_last"], result["blank"]
    for i in range(len(predicted)):
        lines.append(
            f"{i + 1:>5} {roll['ssim'][i]:7.3f} {copy['ssim'][i]:6.3f} {blank['ssim'][i]:6.3f} "
            f"{roll['mse_sum'][i]:9.1f} {copy['mse_sum'][i]:7.1f} {blank['mse_sum'][i]:7.1f} "
            f"{roll['ink'][i]:7.2f}"
        )
    return "\n".join(lines)


def _predict(args: argparse.Namespace) -> int:
    from nfp_lib import data, viz
    from nfp_lib.evaluate import predict_future
    from nfp_lib.validation import check_positive_int

    frames = check_positive_int(args.frames, "--frames")
    if frames > MAX_PREDICTED_FRAMES:
        raise ValueError(f"--frames: expected at most {MAX_PREDICTED_FRAMES}, got {frames}")
    if not (args.gif or args.npy):
        raise ValueError("predict: expected --gif and/or --npy to say where to write the frames")
    for flag, path in (("--gif", args.gif), ("--npy", args.npy)):
        if path is not None and (path.is_dir() or path.suffix.lower() != f".{flag[2:]}"):
            raise ValueError(f"{flag} {path}: expected a file name ending in .{flag[2:]}")
    model, config = load_any(args.checkpoint)
    clip = data.load_video(args.input)
    _check_frame_size(clip, config, f"--input {args.input}")
    predicted = predict_future(model, clip, frames, progress=True)
    if args.gif:
        viz.save_gif(predicted[0], args.gif)
        print(f"wrote {frames} predicted frames to {args.gif}")
    if args.npy:
        from nfp_lib.fileio import atomic_save

        atomic_save(args.npy, lambda tmp: np.save(tmp, predicted))
        print(f"wrote an array of shape {predicted.shape} to {args.npy}")
    return 0


def _check_frame_size(video: np.ndarray, config, name: str) -> None:
    """Both backends' models take the frames they were trained on, and only those."""
    size = config.train.image_size
    if video.shape[2:4] != (size, size):
        raise ValueError(
            f"{name}: expected {size}x{size} frames (the model's image_size), "
            f"got {video.shape[2]}x{video.shape[3]}"
        )


def _pretrained(args: argparse.Namespace) -> int:
    from nfp_lib.pretrained import list_pretrained

    shipped = list_pretrained()
    width = max(map(len, shipped), default=0)
    for name, summary in shipped.items():
        print(f"{name:<{width}}  {summary}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from nfp_lib.bench import format_table, run_benchmarks

    results = run_benchmarks(
        device=args.device, steps=args.steps, cases=args.cases, batch=args.batch
    )
    results["command"] = " ".join(["python -m nfp_lib", *sys.argv[1:]])
    print(json.dumps(results) if args.json else format_table(results))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m nfp_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="command")

    train = commands.add_parser("train", help="train a model and checkpoint it every epoch")
    train.add_argument("--backend", choices=("torch", "keras"), default="torch")
    train.add_argument("--config", required=True, help="a preset name or a JSON config file")
    train.add_argument("--out", required=True, type=Path, help="run directory")
    train.add_argument("--resume", action="store_true", help="continue the run in OUT")
    train.add_argument(
        "--overwrite", action="store_true", help="move a run already in OUT aside to OUT.old-<time>"
    )
    train.add_argument("--epochs", type=int, help="override the config's epochs")
    train.add_argument("--num-train", type=int, help="override the config's num_train")
    train.add_argument("--batch-size", type=int, help="override the config's batch_size")
    train.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda if present)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score a checkpoint: 10 seen, 10 predicted")
    evaluate.add_argument("--checkpoint", required=True, help="a path or a shipped name")
    evaluate.add_argument(
        "--data", default="generated", help="'generated' or an mnist_test_seq.npy"
    )
    evaluate.add_argument("--no-md5", action="store_true", help="skip the published file's md5")
    evaluate.add_argument("--seed", type=int, default=2026, help="seed of the generated test set")
    evaluate.add_argument(
        "--digits",
        choices=DIGIT_SOURCES,
        default="sklearn",
        help="the generated set's digits (default: sklearn, the book's held-out set)",
    )
    evaluate.add_argument("--num-sequences", type=int, default=500)
    evaluate.add_argument("--context", type=int, default=10)
    evaluate.add_argument("--horizon", type=int, default=10)
    evaluate.add_argument(
        "--mirror-average",
        choices=("on", "off"),
        help="predict as the mean over the four mirror images, or not (default: as the "
        "checkpoint's config says)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="continue a clip (.npy or .gif)")
    predict.add_argument("--checkpoint", required=True, help="a path or a shipped name")
    predict.add_argument("--input", required=True, type=Path)
    predict.add_argument("--frames", type=int, default=10, help="how many frames to predict")
    predict.add_argument("--gif", type=Path, help="write the predicted frames as a GIF")
    predict.add_argument("--npy", type=Path, help="write the predicted frames as .npy")
    predict.set_defaults(run=_predict)

    pretrained = commands.add_parser("pretrained", help="list the shipped checkpoints")
    pretrained.set_defaults(run=_pretrained)

    bench = commands.add_parser("bench", help="time train steps and rollouts")
    bench.add_argument("--device", default="cpu", help="cpu or cuda")
    bench.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    bench.add_argument("--cases", nargs="*", help="run only these cases")
    bench.add_argument("--batch", type=int, default=5, help="sequences per training step")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.set_defaults(run=_bench)
    return parser
