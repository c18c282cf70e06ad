// The ConvLSTM next-frame predictor of nfp_lib.torch_backend in plain JavaScript: a twin of
// ConvLSTMCell (convlstm.py) and of NextFramePredictor's heads (model.py), for one sequence.
// A frame is a Float64Array in PyTorch's (C, H, W) layout; the weights come from
// nfp_lib.web.export_model in PyTorch's layout too. Use:
//   const model = new NfpConvLSTM.Predictor(exported);  model.reset();
//   const next = model.step(frame);   // the predicted next frame, values in [0, 1]
"use strict";

var NfpConvLSTM = (function () {
  const sigmoid = (v) => 1 / (1 + Math.exp(-v));
  const ACTIVATIONS = { tanh: Math.tanh, relu: (v) => Math.max(v, 0) };

  // The (C*k*k, H*W) matrix of zero-padded k x k neighbourhoods, row (c, dy, dx) in the order
  // of nn.Conv2d's weight (out, in, k, k), so a convolution is one matrix product.
  function im2col(input, channels, h, w, k) {
    const r = k >> 1;
    const hw = h * w;
    const cols = new Float64Array(channels * k * k * hw);
    for (let c = 0; c < channels; c++) {
      for (let dy = 0; dy < k; dy++) {
        for (let dx = 0; dx < k; dx++) {
          const row = ((c * k + dy) * k + dx) * hw;
          for (let y = 0; y < h; y++) {
            const sy = y + dy - r;
            if (sy < 0 || sy >= h) continue;
            for (let x = 0; x < w; x++) {
              const sx = x + dx - r;
              if (sx >= 0 && sx < w) cols[row + y * w + x] = input[c * hw + sy * w + sx];
            }
          }
        }
      }
    }
    return cols;
  }

  // nn.Conv2d(cin, cout, k, padding=k // 2): out[o] = bias[o] + sum_j weight[o, j] * cols[j].
  function conv2d(input, cin, h, w, conv) {
    const [cout, , k] = conv.shape;
    const hw = h * w;
    const n = cin * k * k;
    const cols = im2col(input, cin, h, w, k);
    const out = new Float64Array(cout * hw);
    for (let o = 0; o < cout; o++) {
      const row = out.subarray(o * hw, (o + 1) * hw);
      row.fill(conv.bias[o]);
      for (let j = 0; j < n; j++) {
        const weight = conv.weight[o * n + j];
        const col = j * hw;
        for (let p = 0; p < hw; p++) row[p] += weight * cols[col + p];
      }
    }
    return out;
  }

  // F.pixel_unshuffle (down = true: (C, H, W) -> (C*p*p, H/p, W/p)) and F.pixel_shuffle (back):
  // channel (c, dy, dx) of the small grid is pixel (dy, dx) of every p x p patch of channel c.
  function shuffle(input, channels, h, w, p, down) {
    const out = new Float64Array(channels * h * w);
    const rows = h / p;
    const cols = w / p;
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const big = (c * h + y) * w + x;
          const small = ((c * p * p + (y % p) * p + (x % p)) * rows + Math.floor(y / p)) * cols;
          const at = small + Math.floor(x / p);
          if (down) out[at] = input[big];
          else out[big] = input[at];
        }
      }
    }
    return out;
  }

  // Softmax over `groups` planes of `size` values each (the channel axis), in place.
  function softmax(values, groups, size) {
    for (let p = 0; p < size; p++) {
      let max = -Infinity;
      for (let g = 0; g < groups; g++) max = Math.max(max, values[g * size + p]);
      let sum = 0;
      for (let g = 0; g < groups; g++) {
        values[g * size + p] = Math.exp(values[g * size + p] - max);
        sum += values[g * size + p];
      }
      for (let g = 0; g < groups; g++) values[g * size + p] /= sum;
    }
    return values;
  }

  // apply_dynamic_filters: pixel (y, x) of patch (i, j) becomes the sum over (dy, dx) of
  // kernels[dy, dx, i, j] * frame[y + dy - K//2, x + dx - K//2] (zeros outside the frame).
  function dynamicFilter(frame, channels, h, w, kernels, kernel, p) {
    const r = kernel >> 1;
    const rows = h / p;
    const cols = w / p;
    const out = new Float64Array(channels * h * w);
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const patch = Math.floor(y / p) * cols + Math.floor(x / p);
          let sum = 0;
          for (let dy = 0; dy < kernel; dy++) {
            const sy = y + dy - r;
            if (sy < 0 || sy >= h) continue;
            for (let dx = 0; dx < kernel; dx++) {
              const sx = x + dx - r;
              if (sx < 0 || sx >= w) continue;
              sum +=
                kernels[(dy * kernel + dx) * rows * cols + patch] * frame[(c * h + sy) * w + sx];
            }
          }
          out[(c * h + y) * w + x] = sum;
        }
      }
    }
    return out;
  }

  const clamp01 = (values) => values.map((v) => Math.min(Math.max(v, 0), 1));

  class Predictor {
    // `exported`: what nfp_lib.web.export_model returns (config, tensors, base64 float32 weights).
    constructor(exported) {
      this.config = exported.config;
      const bytes = Uint8Array.from(atob(exported.weights), (ch) => ch.charCodeAt(0));
      const floats = new Float32Array(bytes.buffer);
      const tensor = (name) => {
        const { offset, shape } = exported.tensors[name];
        const size = shape.reduce((a, b) => a * b, 1);
        return { data: floats.subarray(offset, offset + size), shape };
      };
      const conv = (name) => {
        const weight = tensor(`${name}.weight`);
        return { weight: weight.data, shape: weight.shape, bias: tensor(`${name}.bias`).data };
      };
      this.layers = this.config.filters.map((_, i) => conv(`layers.${i}`));
      this.head = conv("head");
      this.act = ACTIVATIONS[this.config.activation];
      this.reset();
    }

    // Forget the sequence: every layer's (h, c) back to zeros (at the first step).
    reset() {
      this.state = null;
    }

    // Feed one frame (C, H, W); returns the prediction of the next one, as the model's step().
    step(frame, h, w) {
      const { channels: ch, patch_size: p, filters } = this.config;
      const rows = h / p;
      const cols = w / p;
      const hw = rows * cols;
      if (this.state === null) {
        this.state = filters.map((f) => ({
          h: new Float64Array(f * hw),
          c: new Float64Array(f * hw),
        }));
      }
      let x = shuffle(frame, ch, h, w, p, true);
      let channels = ch * p * p;
      this.layers.forEach((layer, i) => {
        x = this.cellStep(layer, x, channels, filters[i], this.state[i], rows, cols);
        channels = filters[i];
      });
      return this.predict(frame, conv2d(x, channels, rows, cols, this.head), h, w);
    }

    // ConvLSTMCell.forward: the gates i, f, g, o from one convolution over
    // [x, h], then c = σ(f) c + σ(i) act(g) and h = σ(o) act(c).
    // Updates `state`, returns the new h.
    cellStep(layer, x, channels, f, state, rows, cols) {
      const size = f * rows * cols;
      const xh = new Float64Array(x.length + size);
      xh.set(x);
      xh.set(state.h, x.length);
      const z = conv2d(xh, channels + f, rows, cols, layer);
      for (let j = 0; j < size; j++) {
        const c =
          sigmoid(z[size + j]) * state.c[j] +
          sigmoid(z[j]) * this.act(z[2 * size + j]);
        state.c[j] = c;
        state.h[j] = sigmoid(z[3 * size + j]) * this.act(c);
      }
      return state.h;
    }

    // The head's output (channels, H/p, W/p) -> the next frame: sigmoid pixels, one motion
    // kernel per patch moving the current frame, or the masked sum of M moved copies and a
    // drawn frame (model.py's forward and _composite).
    predict(frame, y, h, w) {
      const { channels: ch, patch_size: p, motion_kernel: k, motion_masks: m } = this.config;
      const hw = (h / p) * (w / p);
      if (!k) return shuffle(y.map(sigmoid), ch, h, w, p, false);
      const kk = k * k;
      const moved = (i) => {
        const kernels = softmax(y.slice(i * kk * hw, (i + 1) * kk * hw), kk, hw);
        return dynamicFilter(frame, ch, h, w, kernels, k, p);
      };
      if (!m) return clamp01(moved(0));
      const candidates = Array.from({ length: m }, (_, i) => moved(i));
      const pixels = y.slice(m * kk * hw, (m * kk + ch * p * p) * hw).map(sigmoid);
      candidates.push(shuffle(pixels, ch, h, w, p, false));
      const masks = shuffle(y.slice((m * kk + ch * p * p) * hw), m + 1, h, w, p, false);
      softmax(masks, m + 1, h * w);
      const out = new Float64Array(ch * h * w);
      for (let c = 0; c < ch; c++) {
        for (let j = 0; j < h * w; j++) {
          let sum = 0;
          for (let i = 0; i <= m; i++) sum += masks[i * h * w + j] * candidates[i][c * h * w + j];
          out[c * h * w + j] = sum;
        }
      }
      return clamp01(out);
    }
  }

  return { Predictor };
})();
