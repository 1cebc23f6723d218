"""The multi-head and multi-label demos (README): each trains once through main.py to >= 0.9 joint
accuracy / mAP on the test split (TensorBoard `test/direction-speed_accuracy`, `test/mAP`), and
the trained checkpoint serves --mode=predict with per-head top-k / per-class probabilities."""

import numpy as np
import pytest

from tests.trainer.main_runner import REPO_ROOT, read_scalars, run_main
from tests.trainer.test_demo import _write_mp4
from vivit.config import load_config as _load_config
from vivit.data.synthetic import HEAD_CLASS_NAMES, SyntheticMotionSource

pytestmark = pytest.mark.slow


def _trained(tmp_path_factory, config):
    workdir = tmp_path_factory.mktemp(config.split("/")[-1].removesuffix(".py"))
    result = run_main(workdir, config=config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="module")
def multihead_workdir(tmp_path_factory):
    return _trained(tmp_path_factory, "configs/demo_multihead.py")


@pytest.fixture(scope="module")
def multilabel_workdir(tmp_path_factory):
    return _trained(tmp_path_factory, "configs/demo_multilabel.py")


def load_config(path):
    return _load_config(str(REPO_ROOT / path))


def _final(workdir, split, metric):
    scalars = read_scalars(workdir)
    step = max(scalars[f"{split}/{metric}"])
    return {tag.split("/", 1)[1]: values[step][-1]
            for tag, values in scalars.items() if tag.startswith(f"{split}/") and step in values}


def _source(count, **labels):
    """Synthetic test videos of content seed 7 (the demos train on seed 0)."""
    return SyntheticMotionSource(split="test", num_examples=count, video_frames=16,
                                 resolution=32, seed=7, **labels)


def _videos(tmp_path, count, **labels):
    """mp4 files of synthetic test videos, and their labels."""
    source = _source(count, **labels)
    paths, expected = [], []
    for index in range(count):
        record = source[index]
        path = tmp_path / f"video_{index}.mp4"
        _write_mp4(path, record.read_frames(np.arange(16)))
        paths.append(str(path))
        expected.append(record.label)
    return paths, expected


def test_multihead_demo_reaches_90_percent_joint_accuracy(multihead_workdir):
    test = _final(multihead_workdir, "test", "direction-speed_accuracy")
    assert test["direction-speed_accuracy"] >= 0.9, test
    assert test["direction_accuracy"] >= test["direction-speed_accuracy"]
    assert test["num_videos"] == 512 and "single_view_speed_accuracy" in test
    # The joint accuracy is the default best-checkpoint metric: no setting, no KeyError.
    assert "valid/direction-speed_accuracy" in read_scalars(multihead_workdir)


def test_multihead_predict_prints_top_k_per_head(multihead_workdir, tmp_path):
    paths, expected = _videos(tmp_path, 8, labels="per_head", num_classes=6)
    result = run_main(multihead_workdir, "--mode=predict", *paths,
                      config="configs/demo_multihead.py")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    block = 1 + 1 + 4 + 1 + 2  # path, direction: top-4 (its classes), speed: top-2
    assert len(lines) == block * len(paths)
    right = 0
    for i, (path, (direction, speed)) in enumerate(zip(paths, expected)):
        out = lines[block * i: block * (i + 1)]
        assert out[0] == path and out[1] == "  direction:" and out[6] == "  speed:"
        assert sorted(line.split()[1] for line in out[2:6]) == sorted(HEAD_CLASS_NAMES[0])
        scores = [float(line.split()[2]) for line in out[2:6]]
        assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, 1e-3)
        right += (out[2].split()[1] == HEAD_CLASS_NAMES[0][direction]
                  and out[7].split()[1] == HEAD_CLASS_NAMES[1][speed])
    assert right >= 7, result.stdout


def test_multilabel_demo_reaches_90_percent_mAP(multilabel_workdir):
    test = _final(multilabel_workdir, "test", "mAP")
    assert test["mAP"] >= 0.9, test
    classes = load_config("configs/demo_multilabel.py").dataset_configs.num_classes
    per_class = [test[f"AP_{c}"] for c in range(classes)]
    assert test["mAP"] == pytest.approx(np.mean(per_class), abs=1e-5)
    assert test["num_videos"] == 512 and "single_view_mAP" in test
    # mAP is the default best-checkpoint metric: validation reports it at every evaluation.
    assert set(read_scalars(multilabel_workdir)["valid/mAP"]) == {200, 400, 600}


def test_multilabel_predict_prints_the_classes_above_one_half(multilabel_workdir, tmp_path):
    config = load_config("configs/demo_multilabel.py")
    labels = dict(labels="multi_hot", num_classes=config.dataset_configs.num_classes,
                  objects_per_video=config.dataset_configs.synthetic.objects_per_video)
    paths, expected = _videos(tmp_path, 8, **labels)
    result = run_main(multilabel_workdir, "--mode=predict", *paths,
                      config="configs/demo_multilabel.py")
    assert result.returncode == 0, result.stderr[-3000:]
    names = _source(1, **labels).label_names
    blocks, current = [], None
    for line in result.stdout.splitlines():
        if line.startswith("  "):
            current[1].append(line.split())
        else:
            current = (line, [])
            blocks.append(current)
    assert [path for path, _ in blocks] == paths
    top1_right, printed_right, printed_count, true_count = 0, 0, 0, 0
    for (_, ranks), multi_hot in zip(blocks, expected):
        assert ranks, "every video prints at least one class"
        printed = [r[1] for r in ranks if r[0][0].isdigit()]
        scores = [float(r[2]) for r in ranks if r[0][0].isdigit()]
        assert scores == sorted(scores, reverse=True)
        truth = {names[c] for c in np.flatnonzero(multi_hot)}
        top1_right += printed[0] in truth
        printed_right += len(truth & set(printed))
        printed_count += len(printed)
        true_count += len(truth)
    # A 0.95-mAP model: its best class is nearly always shown, and what it prints above 0.5 is
    # mostly right (precision) and finds most shapes (recall), on videos it never saw.
    assert top1_right >= 7, result.stdout
    assert printed_right / printed_count >= 0.85, result.stdout
    assert printed_right / true_count >= 0.7, result.stdout
