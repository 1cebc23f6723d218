"""One tiny TFDS video dataset for the tests that read TFDS (locally and from a bucket)."""

import functools

import numpy as np

NAME = "tiny_videos"  # The TFDS name of `build_tiny_videos`'s dataset.
LABELS = ["a", "b", "c"]


def build_tiny_videos(data_dir: str) -> None:
    """Prepares `tiny_videos` as ArrayRecord under `data_dir`: train 6 and test 3 clips of 20
    frames of 12x20, label i % 3; brightness grows with the frame and clip number, so clips differ."""
    _builder_class()(data_dir=data_dir, file_format="array_record").download_and_prepare()


@functools.cache
def _builder_class():
    """Defined once per process: TFDS registers a builder class by name when it is defined."""
    import tensorflow_datasets as tfds

    class TinyVideos(tfds.core.GeneratorBasedBuilder):
        # A builder defined in a package module (tests....) makes TFDS 4.9.10 import
        # `importlib_resources`, which it does not depend on; a one-part module name avoids that.
        __module__ = "tiny_videos_builder"
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "video": tfds.features.Video((None, 12, 20, 3)),
                "label": tfds.features.ClassLabel(names=LABELS),
            }))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

        def _generate_examples(self, count):
            for i in range(count):
                video = np.stack([np.full((12, 20, 3), 10 * t + i, np.uint8) for t in range(20)])
                yield i, {"video": video, "label": i % 3}

    return TinyVideos
