import json

import numpy as np
from PIL import Image

from jaxgan import plots


def test_curves_skip_a_line_being_appended(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    records = [{"step": s, "disc/loss": 1.0, "gen/loss": 0.7} for s in (10, 20)]
    epoch = {"step": 20, "epoch": 1, "epoch_time_s": 1.0, "disc/loss": 1.0, "gen/loss": 0.7,
             "disc/real_prob": 0.6, "disc/fake_prob": 0.4, "eval/fcd": 50.0, "eval/kid": 1.0,
             "eval/precision": 0.5, "eval/recall": 0.5, "eval/class_entropy": 2.2}  # fmt: skip
    metrics.write_text("".join(json.dumps(r) + "\n" for r in [*records, epoch]) + '{"step": 30, "disc/lo')
    assert plots.read_records(metrics) == [*records, epoch]
    plots.save_loss_curves(metrics, tmp_path / "loss.png")
    plots.save_metric_curves(metrics, tmp_path / "metrics.png")
    assert Image.open(tmp_path / "loss.png").format == Image.open(tmp_path / "metrics.png").format == "PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loss.png", "metrics.jsonl", "metrics.png"]  # no .tmp


def test_labelled_rows_add_a_margin_and_keep_the_grid(tmp_path):
    images = np.full((20, 28, 28, 1), 128, np.uint8)
    plots.save_grid(images, tmp_path / "plain.png", cols=2, scale=2)
    plots.save_grid(images, tmp_path / "named.png", cols=2, scale=2, row_names=[str(i) for i in range(10)])
    plain, named = np.asarray(Image.open(tmp_path / "plain.png")), np.asarray(Image.open(tmp_path / "named.png"))
    assert named.shape == (plain.shape[0], plain.shape[1] + 90)
    np.testing.assert_array_equal(named[:, 90:], plain)
    assert (named[:, :90] < 128).any()  # the names are drawn
