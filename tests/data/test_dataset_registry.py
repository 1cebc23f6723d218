"""A new data source is added by registering it: no existing module is edited."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

from tests.documented_example import marked_example, shown_in_docs
from tests.task_helpers import dataset_of

from vivit.data import DATASETS
from vivit.data.source import VideoRecord


# --- The worked example of docs/architecture.md ("Adding a dataset"). ---
from vivit.data import Dataset, register_dataset

COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)


class SolidColourSource:
    """Videos of one flat colour each; the label is the colour. `VideoSource`'s protocol."""

    def __init__(self, num_examples: int, positions=None):
        self.num_examples = num_examples
        self.positions = np.arange(num_examples) if positions is None else np.asarray(positions)
        self.label_names = ["red", "green", "blue"]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, position: int) -> VideoRecord:
        index = int(self.positions[position])
        colour = COLOURS[index % 3]
        return VideoRecord(num_frames=8, label=index % 3, key=f"solid/{index}",
                           read_frames=lambda frames: np.broadcast_to(
                               colour, (len(frames), 32, 32, 3)).copy())

    def shard(self, positions) -> "SolidColourSource":
        return SolidColourSource(self.num_examples, self.positions[np.asarray(positions)])


def open_solid_colours(config, task, split, share_index, share_count):
    """This process's share of the split (every share_count-th video) and the split's size;
    the labels are class indices, as the single-label task wants."""
    num_examples = config.dataset_configs.examples_per_subset[split]
    source = SolidColourSource(num_examples)
    return source.shard(np.arange(share_index, num_examples, share_count)), num_examples


SOLID_COLOURS = Dataset(open_split=open_solid_colours)
# --- End of the example; then register_dataset("solid_colours", SOLID_COLOURS). ---


@pytest.fixture
def solid_colours(tiny_config) -> Iterator:
    register_dataset("solid_colours", SOLID_COLOURS)
    tiny_config.dataset_name = "solid_colours"
    tiny_config.dataset_configs.num_classes = 3
    tiny_config.dataset_configs.examples_per_subset = {"train": 12, "validation": 5, "test": 5}
    yield tiny_config
    del DATASETS["solid_colours"]


def test_registered_dataset_goes_through_the_whole_pipeline(solid_colours):
    train = dataset_of(solid_colours, "train", process_index=0, process_count=1)
    batch = next(train.batches())
    assert batch["inputs"].shape == (4, 4, 16, 16, 3)
    assert train.meta.num_examples == 12 and train.meta.label_names == ["red", "green", "blue"]
    # The pixels arrive as they are (uint8): a red video is 255 in channel 0 and 0 elsewhere.
    for clip, label in zip(batch["inputs"], batch["label"]):
        np.testing.assert_array_equal(clip.mean(axis=(0, 1, 2)), COLOURS[label])


def test_registered_dataset_is_shared_over_processes_like_the_builtin_ones(solid_colours):
    labels = []
    for process in range(2):
        validation = dataset_of(solid_colours, "validation", process_index=process,
                                 process_count=2)
        assert validation.meta.num_examples == 5
        labels.append([validation.source[i].key for i in range(len(validation.source))])
    assert labels == [["solid/0", "solid/2", "solid/4"], ["solid/1", "solid/3"]]


def test_unknown_dataset_lists_the_registered_ones(tiny_config):
    tiny_config.dataset_name = "kinetics9000"
    with pytest.raises(ValueError, match=r"Unknown dataset_name 'kinetics9000'.*'synthetic_motion'"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_the_documented_example_is_this_file():
    """docs/architecture.md shows the example above; keep the two the same code."""
    shown = shown_in_docs("Datasets")
    assert marked_example(__file__) in shown
    assert 'register_dataset("solid_colours", SOLID_COLOURS)' in shown
