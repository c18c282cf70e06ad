// The live page: pick a held-out Moving MNIST sequence or make one, watch its 10 seen frames, and
// see the shipped ConvLSTM (convlstm.js) predict the next 10 in this browser, one by one, each
// scored against the truth (metrics.js). Data: window.NFP_LIVE_DATA (nfp-live-data.js, written
// by nfp_lib.web at build time). With ?selftest=1 (or =own) the page predicts held-out sequence
// 1 (or the made one) when it loads and writes the input, the result and any JavaScript errors
// into #nfp-live-selftest, for the tests.
"use strict";

(function () {
  const errors = [];
  window.addEventListener("error", (event) => errors.push(String(event.message)));
  window.addEventListener("unhandledrejection", (event) => errors.push(String(event.reason)));
  const consoleError = console.error;
  console.error = (...args) => {
    errors.push(args.join(" "));
    consoleError(...args);
  };

  const CONTEXT = 10;
  const DIGIT = 28;
  const data = window.NFP_LIVE_DATA;
  const decode = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  const [count, frames, H, W] = data.sequences.shape;
  const sequences = decode(data.sequences.data);
  const glyphs = decode(data.digits.data);
  const model = new NfpConvLSTM.Predictor(data.model);
  const root = document.getElementById("nfp-live");
  let runId = 0; // a newer prediction stops an older one between frames

  // Held-out sequence s as frames of H*W floats, uint8 / 255 rounded to float32 as in numpy.
  function storedSequence(s) {
    return Array.from({ length: frames }, (_, t) => {
      const start = (s * frames + t) * H * W;
      return Float64Array.from(sequences.subarray(start, start + H * W), (v) =>
        Math.fround(v / 255),
      );
    });
  }

  // data.generate_moving_mnist's rules for given digits: a straight path at `speed` pixels per
  // frame in direction `angle` (0 = right, 90 = down), folded back at the walls, rounded to
  // whole pixels; digits overlap by their maximum.
  function madeSequence(digits) {
    const limit = H - DIGIT;
    const fold = (v) =>
      Math.round(limit - Math.abs((((v % (2 * limit)) + 2 * limit) % (2 * limit)) - limit));
    return Array.from({ length: frames }, (_, t) => {
      const frame = new Float64Array(H * W);
      for (const d of digits) {
        const rad = (d.angle * Math.PI) / 180;
        const top = fold(d.y + d.speed * Math.sin(rad) * t);
        const left = fold(d.x + d.speed * Math.cos(rad) * t);
        for (let y = 0; y < DIGIT; y++) {
          for (let x = 0; x < DIGIT; x++) {
            const at = (top + y) * W + left + x;
            frame[at] = Math.max(frame[at], glyphs[(d.digit * DIGIT + y) * DIGIT + x] / 255);
          }
        }
      }
      return frame;
    });
  }

  // ---- drawing ----
  function el(tag, attrs = {}, ...children) {
    const node = Object.assign(document.createElement(tag), attrs);
    node.append(...children);
    return node;
  }

  // Grey for a frame; for an error (pred - truth) red where ink was added, cyan where it is
  // missing.
  function draw(canvas, frame, signed = false) {
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(W, H);
    frame.forEach((v, i) => {
      const rgb = signed ? [Math.max(v, 0), Math.max(-v, 0), Math.max(-v, 0)] : [v, v, v];
      image.data.set([...rgb.map((c) => Math.round(255 * Math.min(c, 1))), 255], 4 * i);
    });
    ctx.putImageData(image, 0, 0);
  }

  const canvas = (cls) => el("canvas", { width: W, height: H, className: cls });
  const strip = (label) => {
    const cells = Array.from({ length: CONTEXT }, () => canvas("nfp-thumb"));
    return { cells, row: el("div", { className: "nfp-strip" }, el("span", {}, label), ...cells) };
  };

  // ---- the controls ----
  const source = el(
    "select",
    { id: "nfp-live-source" },
    ...Array.from({ length: count }, (_, s) =>
      el("option", { value: s, textContent: `held-out sequence ${s + 1}` }),
    ),
    el("option", { value: "own", textContent: "make your own" }),
  );
  const slider = (min, max, step, value) => el("input", { type: "range", min, max, step, value });
  // A labelled slider that shows its value.
  const shown = (label, input) => {
    const value = el("output", { value: input.value });
    input.addEventListener("input", () => (value.value = input.value));
    return el("label", {}, label, input, " ", value);
  };
  const own = [
    [3, 4, 30, 20, 3],
    [7, 30, 8, 200, 4],
  ].map(([digit, x, y, angle, speed], i) => ({
    digit: el(
      "select",
      {},
      ...Array.from({ length: 10 }, (_, d) =>
        el("option", { value: d, textContent: d, selected: d === digit }),
      ),
    ),
    x: slider(0, H - DIGIT, 1, x),
    y: slider(0, H - DIGIT, 1, y),
    angle: slider(0, 359, 1, angle),
    speed: slider(2, 5, 0.1, speed),
    label: `digit ${i + 1}`,
  }));
  const ownPanel = el(
    "div",
    { className: "nfp-own", hidden: true },
    ...own.map((d) =>
      el(
        "fieldset",
        {},
        el("legend", { textContent: d.label }),
        el("label", {}, "digit ", d.digit),
        shown("start x ", d.x),
        shown("start y ", d.y),
        shown("direction (0 = right, 90 = down) ", d.angle),
        shown("speed (px/frame) ", d.speed),
      ),
    ),
  );
  const randomise = el("button", { type: "button", textContent: "random digits and motion" });
  ownPanel.append(randomise);

  const seen = strip("seen");
  const truth = strip("truth");
  const predicted = strip("prediction");
  const error = strip("error");
  const scrub = slider(1, CONTEXT, 1, 1);
  const big = [canvas("nfp-big"), canvas("nfp-big"), canvas("nfp-big")];
  const readout = el("p", { className: "nfp-readout" });
  const table = el("tbody");
  const status = el("p", { className: "nfp-status" });
  root.append(
    el("div", { className: "nfp-controls" }, el("label", {}, "Input: ", source), ownPanel),
    seen.row,
    truth.row,
    predicted.row,
    error.row,
    el("label", { className: "nfp-scrub" }, "predicted frame ", scrub),
    el(
      "div",
      { className: "nfp-bigrow" },
      ...big.map((c, i) =>
        el("figure", {}, c, el("figcaption", { textContent: ["truth", "prediction", "error"][i] })),
      ),
    ),
    readout,
    status,
    el(
      "table",
      { className: "nfp-table" },
      el(
        "thead",
        {},
        el("tr", {}, ...["frame", "MSE", "SSIM", "ms"].map((h) => el("th", { textContent: h }))),
      ),
      table,
    ),
  );

  // ---- predicting ----
  let result = { truth: [], pred: [], mse: [], ssim: [], ms: [] };

  function showScrubbed() {
    const t = Number(scrub.value) - 1;
    if (t >= result.pred.length) return;
    draw(big[0], result.truth[t]);
    draw(big[1], result.pred[t]);
    draw(
      big[2],
      result.pred[t].map((v, i) => v - result.truth[t][i]),
      true,
    );
    readout.textContent =
      `frame ${CONTEXT + t + 1}: MSE ${result.mse[t].toFixed(4)}, ` +
      `SSIM ${result.ssim[t].toFixed(3)}, computed in ${result.ms[t].toFixed(1)} ms`;
  }

  // Let the browser paint each new frame; the self-test runs straight through instead, so that it
  // is done by the load event (when headless Chromium dumps the page) and times real work.
  const selftestInput = new URLSearchParams(window.location.search).get("selftest");
  const selftesting = selftestInput !== null;
  const nextPaint = () =>
    new Promise((resolve) => (selftesting ? resolve() : setTimeout(resolve, 0)));

  // Rollout as nfp_lib.evaluate.predict_future: the seen frames through the model with its
  // state carried along, the last output is the first prediction, then each prediction goes back
  // in.
  async function predict(video) {
    const id = ++runId;
    result = { truth: video.slice(CONTEXT, 2 * CONTEXT), pred: [], mse: [], ssim: [], ms: [] };
    video.slice(0, CONTEXT).forEach((f, t) => draw(seen.cells[t], f));
    result.truth.forEach((f, t) => draw(truth.cells[t], f));
    [...predicted.cells, ...error.cells].forEach((c) => c.getContext("2d").clearRect(0, 0, W, H));
    table.replaceChildren();
    model.reset();
    let start = performance.now();
    for (const f of video.slice(0, CONTEXT - 1)) model.step(f, H, W);
    let frame = video[CONTEXT - 1];
    const warm = performance.now() - start;
    for (let t = 0; t < CONTEXT; t++) {
      status.textContent = `predicting frame ${CONTEXT + t + 1} ...`;
      await nextPaint();
      if (id !== runId) return null;
      start = performance.now();
      frame = model.step(frame, H, W);
      const ms = performance.now() - start;
      const target = result.truth[t];
      result.pred.push(frame);
      result.ms.push(ms);
      result.mse.push(NfpMetrics.mse(target, frame));
      result.ssim.push(NfpMetrics.ssim(target, frame, H, W));
      draw(predicted.cells[t], frame);
      draw(
        error.cells[t],
        frame.map((v, i) => v - target[i]),
        true,
      );
      table.append(
        el(
          "tr",
          {},
          ...[
            CONTEXT + t + 1,
            result.mse[t].toFixed(4),
            result.ssim[t].toFixed(3),
            ms.toFixed(1),
          ].map((v) => el("td", { textContent: v })),
        ),
      );
      scrub.value = t + 1;
      showScrubbed();
    }
    const mean = result.ms.reduce((a, b) => a + b, 0) / CONTEXT;
    status.textContent =
      `${data.checkpoint} in this browser: ${mean.toFixed(1)} ms per predicted ` +
      `frame on average (the ${CONTEXT - 1} earlier seen frames took ${warm.toFixed(0)} ms).`;
    return result;
  }

  function currentVideo() {
    if (source.value !== "own") return storedSequence(Number(source.value));
    return madeSequence(
      own.map((d) => ({
        digit: Number(d.digit.value),
        x: Number(d.x.value),
        y: Number(d.y.value),
        angle: Number(d.angle.value),
        speed: Number(d.speed.value),
      })),
    );
  }

  const update = () => {
    ownPanel.hidden = source.value !== "own";
    return predict(currentVideo());
  };
  source.addEventListener("change", update);
  own.forEach((d) =>
    [d.digit, d.x, d.y, d.angle, d.speed].forEach((c) => c.addEventListener("change", update)),
  );
  const randomInt = (min, max) => min + Math.floor(Math.random() * (max - min + 1));
  randomise.addEventListener("click", () => {
    for (const d of own) {
      d.digit.value = randomInt(0, 9);
      for (const c of [d.x, d.y, d.angle]) c.value = randomInt(Number(c.min), Number(c.max));
      d.speed.value = (2 + 3 * Math.random()).toFixed(1);
      [d.x, d.y, d.angle, d.speed].forEach((c) => c.dispatchEvent(new Event("input")));
    }
    update();
  });
  scrub.addEventListener("input", showScrubbed);

  // Frames as base64 little-endian float32, for the tests.
  function framesBase64(list) {
    const floats = new Float32Array(list.length * H * W);
    list.forEach((f, t) => floats.set(f, t * H * W));
    const bytes = new Uint8Array(floats.buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
  }

  // The tests' hook: the input sequence (held-out sequence 1, or with ?selftest=own the made
  // one), the predicted frames, their scores, and any errors so far.
  async function selftest() {
    source.value = selftestInput === "own" ? "own" : "0";
    const video = currentVideo();
    const done = await update();
    const report = {
      checkpoint: data.checkpoint,
      source: source.value,
      shape: [CONTEXT, H, W],
      frames: framesBase64(video),
      predicted: framesBase64(done.pred),
      mse: done.mse,
      ssim: done.ssim,
      ms: done.ms,
      errors,
    };
    root.append(
      el("pre", { id: "nfp-live-selftest", hidden: true, textContent: JSON.stringify(report) }),
    );
  }

  if (selftesting) selftest();
  else update();
})();
