"""Shared config for the data tests: tiny synthetic clips."""

import pytest

from vivit.config import default_config


@pytest.fixture
def tiny_config():
    config = default_config()
    dc = config.dataset_configs
    dc.num_classes = 10
    dc.num_frames = 4
    dc.stride = 2
    dc.min_resize = 16
    dc.crop_size = 16
    dc.random_flip = False
    dc.synthetic.num_train_examples = 40
    dc.synthetic.num_validation_examples = 13
    dc.synthetic.num_test_examples = 7
    dc.synthetic.video_frames = 12
    dc.synthetic.resolution = 16
    config.batch_size = 4
    return config


def _jpeg(frame):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_dmvr_tfrecord(path, videos, *, frames_key="image/encoded"):
    """Writes SequenceExamples in the DMVR layout; videos = [(uint8 [T,H,W,3], label, name)]."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for frames, label, name in videos:
            example = tf.train.SequenceExample()
            context = example.context.feature
            labels = label if isinstance(label, list) else [label]
            context["clip/label/index"].int64_list.value.extend(labels)
            context["clip/label/string"].bytes_list.value.append(f"class{labels[0]}".encode())
            context["clip/media_id"].bytes_list.value.append(name.encode())
            feature_list = example.feature_lists.feature_list[frames_key]
            for frame in frames:
                feature_list.feature.add().bytes_list.value.append(_jpeg(frame))
            writer.write(example.SerializeToString())


def video_frames(num_frames, height, width, seed):
    """Frames whose brightness encodes the frame number (frame t has mean ~ 8 * t)."""
    rng = __import__("numpy").random.default_rng(seed)
    import numpy as np

    base = rng.integers(0, 30, (height, width, 3))
    return np.stack([np.clip(base + 8 * t, 0, 255) for t in range(num_frames)]).astype(np.uint8)


@pytest.fixture
def dmvr_dir(tmp_path, tiny_config):
    """3 train shards (train.tfrecord@3), 1 validation file, 1 test file; 5 classes."""
    videos = {}
    for split, files, per_file in (("train", 3, 3), ("validation", 1, 5), ("test", 1, 3)):
        for shard in range(files):
            name = (f"{split}.tfrecord-{shard:05d}-of-{files:05d}" if split == "train"
                    else f"{split}.tfrecord")
            batch = []
            for i in range(per_file):
                number = len(videos)
                batch.append((video_frames(24, 18, 26, number), number % 5, f"vid{number}"))
                videos[f"vid{number}"] = batch[-1]
            write_dmvr_tfrecord(tmp_path / name, batch)
    dc = tiny_config.dataset_configs
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc.base_dir = str(tmp_path)
    dc.tables.train = "train.tfrecord@3"
    dc.tables.validation = "validation.tfrecord"
    dc.tables.test = "test*.tfrecord"
    dc.num_classes = 5
    dc.keep_key = True
    return tmp_path, videos


@pytest.fixture
def dmvr_writer():
    """The DMVR TFRecord writer above, for tests that write their own records."""
    return write_dmvr_tfrecord
