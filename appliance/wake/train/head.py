"""The head: an MLP on the last 16 embeddings (16 x 96, standardized), ReLU layers and a sigmoid, trained
with numpy (Adam, weighted binary cross-entropy, seeded). Small enough that its inference is two matrix
products per frame."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Fitted:
    mean: np.ndarray
    scale: np.ndarray
    weights: list[tuple[np.ndarray, np.ndarray]]
    epochs: int
    history: list[dict[str, float]]

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"layers": np.array(len(self.weights)), "mean": self.mean, "scale": self.scale}
        for i, (w, b) in enumerate(self.weights):
            out[f"w{i}"], out[f"b{i}"] = w, b
        return out

    def scores(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        out = []
        for i in range(0, len(x), batch):
            h = (x[i : i + batch].reshape(min(batch, len(x) - i), -1).astype(np.float32) - self.mean) * self.scale
            for k, (w, b) in enumerate(self.weights):
                h = h @ w + b
                if k < len(self.weights) - 1:
                    h = np.maximum(h, 0.0)
            out.append(1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -30, 30))))
        return np.concatenate(out) if out else np.zeros(0)


def fit(
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    hidden: tuple[int, ...],
    epochs: int,
    seed: int,
    lr: float = 1e-3,
    l2: float = 1e-4,
    batch: int = 256,
    on_epoch: Callable[[int, float], None] | None = None,
) -> Fitted:
    """Train on ``x`` (n, 16, 96), labels ``y`` (0/1), per-example ``weight``."""
    rng = np.random.default_rng(seed)
    flat = x.reshape(len(x), -1).astype(np.float32)
    mean = flat.mean(axis=0)
    scale = (1.0 / (flat.std(axis=0) + 1e-2)).astype(np.float32)
    sizes = [flat.shape[1], *hidden, 1]
    params: list[np.ndarray] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        params.append((rng.normal(0, np.sqrt(2.0 / a), (a, b))).astype(np.float32))
        params.append(np.zeros(b, np.float32))
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    w_norm = (weight / weight.mean()).astype(np.float32)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(len(flat))
        total = 0.0
        # a cosine-decayed learning rate: the last epochs settle
        rate = lr * 0.5 * (1 + np.cos(np.pi * epoch / max(1, epochs)))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            h0 = (flat[idx] - mean) * scale
            acts = [h0]
            h = h0
            for k in range(0, len(params), 2):
                h = h @ params[k] + params[k + 1]
                if k < len(params) - 2:
                    h = np.maximum(h, 0.0)
                acts.append(h)
            logit = acts[-1][:, 0]
            p = 1.0 / (1.0 + np.exp(-np.clip(logit, -30, 30)))
            t = y[idx].astype(np.float32)
            wb = w_norm[idx]
            total += float(np.sum(wb * -(t * np.log(p + 1e-7) + (1 - t) * np.log(1 - p + 1e-7))))
            grad = ((p - t) * wb / len(idx))[:, None].astype(np.float32)
            grads: list[np.ndarray] = [np.empty(0)] * len(params)
            for k in range(len(params) - 2, -1, -2):
                inp = acts[k // 2]
                grads[k] = inp.T @ grad + l2 * params[k]
                grads[k + 1] = grad.sum(axis=0)
                if k > 0:
                    grad = (grad @ params[k].T) * (acts[k // 2] > 0)
            step += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh = m[i] / (1 - 0.9**step)
                vh = v[i] / (1 - 0.999**step)
                params[i] -= (rate * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
        loss = total / len(flat)
        history.append({"epoch": float(epoch + 1), "loss": loss})
        if on_epoch is not None:
            on_epoch(epoch + 1, loss)
    weights = [(params[k], params[k + 1]) for k in range(0, len(params), 2)]
    return Fitted(mean.astype(np.float32), scale, weights, epochs, history)
