"""Images and figures written by the experiments: sample grids, the progression GIF, loss curves."""

import io
import json
import os

import numpy as np
from etils import epath
from PIL import Image, ImageDraw, ImageFont

from jaxgan import files


def image_grid(images: np.ndarray, cols: int = 8, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tiles uint8 images ``[N, H, W, C]`` into one ``[rows*(H+pad)+pad, cols*(W+pad)+pad, C]`` image."""
    n, h, w, c = images.shape
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, np.uint8)
    for i, img in enumerate(images):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = img
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def _to_pil(grid: np.ndarray) -> Image.Image:
    return Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)


def label_rows(grid: np.ndarray, names: list[str], pad: int = 2, width: int = 90) -> np.ndarray:
    """``grid`` (from :func:`image_grid`, one row per name) with a white margin on the left naming each row."""
    rows = len(names)
    pitch = (grid.shape[0] - pad) / rows  # pixels per grid row, whatever the scale
    margin = Image.new("L", (width, grid.shape[0]), 255)
    draw = ImageDraw.Draw(margin)
    for i, name in enumerate(names):
        draw.text((4, pad + i * pitch + pitch / 2), name, fill=0, anchor="lm", font=ImageFont.load_default())
    margin = np.asarray(margin)[..., None].repeat(grid.shape[-1], axis=-1)
    return np.concatenate([margin, grid], axis=1)


def save_grid(
    images: np.ndarray, path: str | os.PathLike, cols: int = 8, scale: int = 1, row_names: list[str] | None = None
) -> None:
    """Writes an image grid as PNG (deterministic bytes for the same pixels); ``row_names`` label its rows."""
    grid = image_grid(images, cols=cols, scale=scale)
    if row_names:
        grid = label_rows(grid, row_names, pad=2 * scale)
    files.write_from(path, lambda f: _to_pil(grid).save(f, format="PNG"))


def save_gif(frames: list[os.PathLike], path: str | os.PathLike, duration_ms: int = 200) -> None:
    """Writes PNG frames into a looping GIF; the last frame is held for 2 s."""
    images = [Image.open(io.BytesIO(epath.Path(f).read_bytes())) for f in frames]
    images = [im.convert("RGB" if im.mode == "RGB" else "L") for im in images]
    _write_gif(images, path, [duration_ms] * (len(images) - 1) + [2000])


def save_animation(grids: list[np.ndarray], path: str | os.PathLike, duration_ms: int = 80) -> None:
    """Writes uint8 images ``[H, W, C]`` as the frames of a looping GIF."""
    _write_gif([_to_pil(g) for g in grids], path, duration_ms)


def _write_gif(frames: list[Image.Image], path: str | os.PathLike, duration_ms: int | list[int]) -> None:
    first, rest = frames[0], frames[1:]
    files.write_from(path, lambda f: first.save(f, format="GIF", save_all=True, append_images=rest,
                                                duration=duration_ms, loop=0))  # fmt: skip


def read_records(metrics_path: str | os.PathLike) -> list[dict]:
    """The records of ``metrics.jsonl``, skipping a line that does not parse (one being appended right now)."""
    records = []
    for line in epath.Path(metrics_path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _save_figure(fig, path: str | os.PathLike) -> None:
    """Writes a matplotlib figure as PNG atomically (a reader never sees half a file) and closes it."""
    import matplotlib.pyplot as plt

    files.write_from(path, lambda f: fig.savefig(f, dpi=80, format="png"))
    plt.close(fig)


def save_loss_curves(metrics_path: str | os.PathLike, path: str | os.PathLike) -> None:
    """Plots per-step and per-epoch losses and D outputs from ``metrics.jsonl``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, epochs = [], []
    for record in read_records(metrics_path):
        (epochs if "epoch_time_s" in record else steps).append(record)
    fig, (ax_loss, ax_prob) = plt.subplots(1, 2, figsize=(11, 4))
    for name, color in (("disc/loss", "tab:blue"), ("gen/loss", "tab:orange")):
        ax_loss.plot([r["step"] for r in steps], [r[name] for r in steps], color=color, alpha=0.25, lw=0.8)
        ax_loss.plot([r["step"] for r in epochs], [r[name] for r in epochs], color=color, lw=2, label=name)
    for name, color in (("disc/real_prob", "tab:green"), ("disc/fake_prob", "tab:red")):
        ax_prob.plot([r["step"] for r in epochs], [r[name] for r in epochs], color=color, lw=2, label=name)
    ax_loss.set(xlabel="step", ylabel="loss", title="Losses (faint: steps, bold: epoch means)")
    ax_prob.set(xlabel="step", ylabel="mean D output", ylim=(0, 1), title="D(x) and D(G(z))")
    for ax in (ax_loss, ax_prob):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path)


EVAL_CURVES = (
    ("eval/fcd", "FCD (classifier Fréchet distance)"),
    ("eval/kid", "KID (classifier features)"),
    ("eval/precision", "precision / recall (k=3)"),
    ("eval/class_entropy", "class entropy (nats; log 10 = 2.30)"),
)


def save_metric_curves(metrics_path: str | os.PathLike, path: str | os.PathLike) -> None:
    """Plots the per-epoch sample-quality metrics (``eval/...``) of ``metrics.jsonl``; no-op without any."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [r for r in read_records(metrics_path) if "eval/fcd" in r]
    if not records:
        return
    epochs = [r["epoch"] for r in records]
    fig, axes = plt.subplots(1, len(EVAL_CURVES), figsize=(4 * len(EVAL_CURVES), 3.5))
    for ax, (name, title) in zip(axes, EVAL_CURVES, strict=True):
        ax.plot(epochs, [r[name] for r in records], marker="o", ms=3, label=name)
        if name == "eval/precision":
            ax.plot(epochs, [r["eval/recall"] for r in records], marker="o", ms=3, label="eval/recall")
            ax.legend()
        ax.set(xlabel="epoch", title=title)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    _save_figure(fig, path)


def save_summaries(workdir: str | os.PathLike) -> None:
    """A run's progression GIF and curves, rebuilt from its ``samples/`` and ``metrics.jsonl``."""
    workdir = epath.Path(workdir)
    save_gif(sorted((workdir / "samples").glob("epoch_*.png")), workdir / "progression.gif")
    save_loss_curves(workdir / "metrics.jsonl", workdir / "loss_curves.png")
    save_metric_curves(workdir / "metrics.jsonl", workdir / "metrics_curves.png")
