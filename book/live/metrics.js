// Per-frame MSE and SSIM of nfp_lib.metrics for one grayscale frame pair (H*W values in [0, 1]):
// SSIM with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1, averaged
// over the pixels whose window lies inside the frame, as metrics.ssim computes it.
"use strict";

var NfpMetrics = (function () {
  const WINDOW = 11;
  const SIGMA = 1.5;
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const weights = (() => {
    const r = (WINDOW - 1) / 2;
    const w = Array.from({ length: WINDOW }, (_, i) => Math.exp(-0.5 * ((i - r) / SIGMA) ** 2));
    const sum = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / sum);
  })();

  function mse(truth, pred) {
    let sum = 0;
    for (let i = 0; i < truth.length; i++) sum += (truth[i] - pred[i]) ** 2;
    return sum / truth.length;
  }

  // Gaussian-weighted local means where the window fits: (h, w) -> (h - 10, w - 10),
  // filtering down the rows first, then along them.
  function localMean(image, h, w) {
    const oh = h - WINDOW + 1;
    const ow = w - WINDOW + 1;
    const down = new Float64Array(oh * w);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < w; x++) {
        let sum = 0;
        for (let k = 0; k < WINDOW; k++) sum += weights[k] * image[(y + k) * w + x];
        down[y * w + x] = sum;
      }
    }
    const out = new Float64Array(oh * ow);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        let sum = 0;
        for (let k = 0; k < WINDOW; k++) sum += weights[k] * down[y * w + x + k];
        out[y * ow + x] = sum;
      }
    }
    return out;
  }

  function ssim(truth, pred, h, w) {
    const product = (u, v) => u.map((value, i) => value * v[i]);
    const [ma, mb] = [localMean(truth, h, w), localMean(pred, h, w)];
    const [aa, bb] = [localMean(product(truth, truth), h, w), localMean(product(pred, pred), h, w)];
    const ab = localMean(product(truth, pred), h, w);
    let sum = 0;
    for (let i = 0; i < ma.length; i++) {
      const [va, vb, cov] = [aa[i] - ma[i] ** 2, bb[i] - mb[i] ** 2, ab[i] - ma[i] * mb[i]];
      sum +=
        ((2 * ma[i] * mb[i] + C1) * (2 * cov + C2)) /
        ((ma[i] ** 2 + mb[i] ** 2 + C1) * (va + vb + C2));
    }
    return sum / ma.length;
  }

  return { mse, ssim };
})();
