"""The live page: the exported model and data, and in headless Chromium the browser's rollout
equals the library's (``predict_future``) within 1e-4 per pixel with no JavaScript error, for the
built page with the shipped checkpoint and for every kind of head."""

import base64
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nfp_lib import metrics, web
from nfp_lib.config import ModelConfig
from nfp_lib.evaluate import predict_future
from nfp_lib.pretrained import load_pretrained
from nfp_lib.torch_backend.model import build_model

ROOT = Path(__file__).resolve().parents[1]
LIVE = ROOT / "book" / "live"
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")
CHROMIUM = next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
)
TOLERANCE = 1e-4
SCRIPTS = ("convlstm.js", "metrics.js", "live-page.js")

HEADS = {
    "pixels": {},
    "motion": {"motion_kernel": 5},
    "compositing": {"motion_kernel": 5, "motion_masks": 2},
}


def _tiny_model(**head) -> torch.nn.Module:
    torch.manual_seed(0)
    config = ModelConfig(filters=(6, 5), kernel_sizes=(3, 1), norm="none", patch_size=4, **head)
    return build_model(config).eval()


def _page_data(script: str) -> dict:
    prefix = "window.NFP_LIVE_DATA = "
    line = next(line for line in script.splitlines() if line.startswith(prefix))
    return json.loads(line.removeprefix(prefix).rstrip(";"))


def test_export_holds_every_weight_in_pytorch_layout():
    model = _tiny_model(**HEADS["compositing"])
    exported = web.export_model(model)
    blob = np.frombuffer(base64.b64decode(exported["weights"]), "<f4")
    expected = {
        "layers.0.weight": model.layers[0].cell.conv.weight,
        "layers.1.bias": model.layers[1].cell.conv.bias,
        "head.weight": model.head.weight,
    }
    for name, tensor in expected.items():
        entry = exported["tensors"][name]
        values = blob[entry["offset"] : entry["offset"] + tensor.numel()]
        assert entry["shape"] == list(tensor.shape)
        np.testing.assert_array_equal(values.reshape(entry["shape"]), tensor.detach().numpy())
    assert blob.size == sum(p.numel() for p in model.parameters())
    assert exported["config"]["motion_masks"] == 2


@pytest.mark.parametrize(
    ("change", "message"), [({"head": "conv3d"}, "conv3d"), ({"norm": "batch"}, "norm")]
)
def test_export_refuses_what_the_page_cannot_run(change, message):
    settings = {"filters": (4,), "kernel_sizes": (3,), "norm": "none", "patch_size": 4}
    config = ModelConfig(**{**settings, **change})
    with pytest.raises(ValueError, match=message):
        web.export_model(build_model(config))


def test_page_data_holds_the_stored_sequences_and_digits():
    data = _page_data(web.live_data_js(_tiny_model(), "tiny"))
    shape = data["sequences"]["shape"]
    frames = np.frombuffer(base64.b64decode(data["sequences"]["data"]), np.uint8).reshape(shape)
    stored = web.stored_sequences()
    assert stored.shape == (web.NUM_SEQUENCES, web.NUM_FRAMES, 64, 64, 1)
    np.testing.assert_array_equal(frames.astype(np.float32) / np.float32(255), stored[..., 0])
    digits = base64.b64decode(data["digits"]["data"])
    assert data["digits"]["shape"] == [10, 28, 28] and len(digits) == 10 * 28 * 28
    assert data["checkpoint"] == "tiny"


def _chromium_selftest(page: Path, selftest: str = "1") -> dict:
    """Open ``page?selftest=...`` offline in headless Chromium; the page's report, with the
    console's uncaught errors added to its own list of errors."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser tests: install chromium (see .ci/run)")
        pytest.skip("no chromium binary (apt-get install chromium) for the browser tests")
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: every host name fails
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=60000",
            "--dump-dom",
            f"{page.as_uri()}?selftest={selftest}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    found = re.search(r'<pre id="nfp-live-selftest"[^>]*>(.*?)</pre>', result.stdout, re.S)
    assert found, "no self-test report in the page:\n" + result.stderr[-3000:]
    report = json.loads(html.unescape(found.group(1)))
    report["errors"] += [line for line in result.stderr.splitlines() if "Uncaught" in line]
    return report


def _frames(report: dict, key: str) -> np.ndarray:
    """A report's frames as a channels-last video ``(1, T, H, W, 1)``."""
    frames = np.frombuffer(base64.b64decode(report[key]), "<f4").copy()
    return frames.reshape(1, -1, *report["shape"][1:], 1)


def _check_against_library(report: dict, model: torch.nn.Module) -> np.ndarray:
    """The page's rollout of its input equals ``predict_future``'s; returns the input."""
    assert report["errors"] == []
    video = _frames(report, "frames")
    expected = predict_future(model, video[:, :10], 10)
    got = _frames(report, "predicted")
    assert np.abs(got - expected).max() < TOLERANCE
    truth = video[:, 10:]
    np.testing.assert_allclose(report["mse"], metrics.mse(truth, expected), atol=1e-6)
    np.testing.assert_allclose(report["ssim"], metrics.ssim(truth, expected), atol=1e-4)
    return video


def _standalone_page(folder: Path) -> Path:
    """A bare page with the live page's scripts and ``folder``'s data file."""
    scripts = [folder / web.DATA_FILE, *(LIVE / name for name in SCRIPTS)]
    tags = "".join(f'<script src="{path.as_uri()}"></script>' for path in scripts)
    page = folder / "page.html"
    page.write_text(f'<!DOCTYPE html><html><body><div id="nfp-live"></div>{tags}</body></html>')
    return page


@pytest.mark.parametrize("head", HEADS)
def test_browser_runs_every_head_like_pytorch(tmp_path, head):
    model = _tiny_model(**HEADS[head])
    (tmp_path / web.DATA_FILE).write_text(web.live_data_js(model, f"tiny-{head}"))
    page = _standalone_page(tmp_path)
    video = _check_against_library(_chromium_selftest(page), model)
    np.testing.assert_array_equal(video, web.stored_sequences()[:1])


def test_browser_predicts_a_made_sequence_like_pytorch(tmp_path):
    """ "Make your own": two digits bounce inside the frame, and the rollout still matches."""
    model = _tiny_model(**HEADS["motion"])
    (tmp_path / web.DATA_FILE).write_text(web.live_data_js(model, "tiny"))
    page = _standalone_page(tmp_path)
    report = _chromium_selftest(page, "own")
    assert report["source"] == "own"
    video = _check_against_library(report, model)
    ink = video[0, ..., 0].sum(axis=(1, 2))
    assert video.shape == (1, web.NUM_FRAMES, 64, 64, 1) and (ink > 0).all()
    assert not np.array_equal(video[0, 0], video[0, -1])  # the digits moved


@pytest.mark.slow
def test_built_book_page_predicts_like_the_library(tmp_path):
    """Build the live page with the book's configuration (and a stub for each chapter it links
    to, so no notebook runs), then open it."""
    book = tmp_path / "book"
    shutil.copytree(LIVE, book / "live")
    shutil.copy2(ROOT / "_config.yml", book / "_config.yml")
    page = (ROOT / "book" / "live.md").read_text()
    (book / "live.md").write_text(page)
    linked = sorted(set(re.findall(r"\{doc\}`([^`]+)`", page)))
    for name in linked:
        (book / name).parent.mkdir(parents=True, exist_ok=True)
        (book / f"{name}.md").write_text(f"# {name}\n")
    chapters = "".join(f"  - file: {name}\n" for name in linked)
    (book / "_toc.yml").write_text(f"format: jb-book\nroot: live\nchapters:\n{chapters}")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(book), "-W", "--keep-going"],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html_dir = book / "_build" / "html"
    assert (html_dir / "_static" / web.DATA_FILE).is_file()
    model, _ = load_pretrained(web.LIVE_CHECKPOINT)
    report = _chromium_selftest(html_dir / "live.html")
    assert report["checkpoint"] == web.LIVE_CHECKPOINT
    video = _check_against_library(report, model)
    np.testing.assert_array_equal(video, web.stored_sequences()[:1])
