"""`synthetic_motion`: clips of moving shapes whose class is told only by motion.

Every video is a function of (seed, split, index), rendered on demand, so nothing is downloaded or
stored. Each video shows one bar-with-a-notch shape of random colour, size, position and
orientation on a random background; the class is how it moves: translation in one of four
directions at a slow or a fast speed, or rotation clockwise / counter-clockwise. Positions wrap
around the frame, and start position and orientation are uniform, so a single frame carries no
information about the class: a model that ignores time stays at chance.

The label layout follows the task (`vivit.tasks`):
- `index` (vivit_classification): one shape, label = its class (the first num_classes above).
- `per_head` (vivit_multihead_classification, class_splits [4, 2], heads direction and speed):
  one translating shape, labels [direction, speed] (right/left/down/up, slow/fast).
- `multi_hot` (vivit_multilabel_classification): between 1 and `objects_per_video` shapes, each
  of a different class (of the first num_classes), label = the multi-hot of their classes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vivit.data.source import VideoRecord

# (dx, dy) in units of the per-frame speed for the translation classes; rotation classes follow.
_DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))
CLASS_NAMES = (
    "right_slow", "left_slow", "down_slow", "up_slow",
    "right_fast", "left_fast", "down_fast", "up_fast",
    "rotate_clockwise", "rotate_counterclockwise",
)
MAX_CLASSES = len(CLASS_NAMES)
# Multi-head mode: the translation classes split into two heads; class = direction + 4 * speed.
HEAD_NAMES = ("direction", "speed")
HEAD_CLASS_NAMES = (("right", "left", "down", "up"), ("slow", "fast"))
CLASS_SPLITS = tuple(len(names) for names in HEAD_CLASS_NAMES)
LABEL_LAYOUTS = ("index", "per_head", "multi_hot")
_SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}
# Speeds as fractions of the frame width per video frame, and rotation in radians per frame.
_SLOW, _FAST = 0.035, 0.09
_ANGULAR_SPEED = 0.3


@dataclasses.dataclass(frozen=True)
class _Scene:
    label: int
    centre: np.ndarray  # [2] (x, y) in pixels at frame 0
    velocity: np.ndarray  # [2] pixels per frame
    angle: float  # orientation at frame 0
    angular_velocity: float
    half_length: float
    half_width: float
    colour: np.ndarray  # [3] uint8
    background: np.ndarray  # [3] uint8


def _scene(rng: np.random.Generator, label: int, size: int, scale: float = 1.0) -> _Scene:
    if label < 8:
        speed = (_SLOW if label < 4 else _FAST) * size
        velocity = np.asarray(_DIRECTIONS[label % 4], np.float64) * speed
        angular_velocity = 0.0
    else:
        velocity = np.zeros(2)
        angular_velocity = _ANGULAR_SPEED * (1.0 if label == 8 else -1.0)
    background = rng.integers(0, 100, size=3)
    colour = rng.integers(140, 256, size=3)
    return _Scene(
        label=label,
        centre=rng.uniform(0, size, size=2),
        velocity=velocity,
        angle=float(rng.uniform(0, 2 * np.pi)),
        angular_velocity=angular_velocity,
        half_length=float(rng.uniform(0.18, 0.3) * size * scale),
        half_width=float(rng.uniform(0.05, 0.09) * size * scale),
        colour=colour.astype(np.uint8),
        background=background.astype(np.uint8),
    )


def _render(scenes: list[_Scene], frame_indices: np.ndarray, size: int) -> np.ndarray:
    """Returns uint8 frames [len(frame_indices), size, size, 3]; the first scene's background,
    later shapes drawn over earlier ones."""
    grid = np.arange(size, dtype=np.float64) + 0.5
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    frames = np.empty((len(frame_indices), size, size, 3), np.uint8)
    for out, _ in enumerate(frame_indices):
        frames[out] = scenes[0].background
    for scene in scenes:
        _draw(scene, frames, frame_indices, xs, ys, size)
    return frames


def _draw(scene: _Scene, frames: np.ndarray, frame_indices: np.ndarray, xs: np.ndarray,
          ys: np.ndarray, size: int) -> None:
    for out, t in enumerate(frame_indices):
        cx, cy = scene.centre + scene.velocity * t
        # Offsets on a torus, so the shape wraps around instead of leaving the frame.
        dx = (xs - cx + size / 2) % size - size / 2
        dy = (ys - cy + size / 2) % size - size / 2
        angle = scene.angle + scene.angular_velocity * t
        along = dx * np.cos(angle) + dy * np.sin(angle)
        across = -dx * np.sin(angle) + dy * np.cos(angle)
        bar = (np.abs(along) <= scene.half_length) & (np.abs(across) <= scene.half_width)
        # A knob on one end breaks the bar's 180-degree symmetry.
        knob = (along - scene.half_length) ** 2 + across**2 <= (2 * scene.half_width) ** 2
        frames[out][bar | knob] = scene.colour


class SyntheticMotionSource:
    """Random-access source of synthetic motion videos for one split (or one process's share)."""

    def __init__(
        self,
        *,
        split: str,
        num_examples: int,
        num_classes: int,
        video_frames: int,
        resolution: int,
        seed: int,
        labels: str = "index",
        objects_per_video: int = 1,
        indices: np.ndarray | None = None,
    ):
        if labels not in LABEL_LAYOUTS:
            raise ValueError(f"Unknown label layout {labels!r}; expected one of {LABEL_LAYOUTS}.")
        if labels == "per_head" and num_classes != sum(CLASS_SPLITS):
            raise ValueError(
                f"dataset_configs.class_splits must be {list(CLASS_SPLITS)} (heads "
                f"{list(HEAD_NAMES)}) for a multi-head synthetic_motion; its classes sum to "
                f"{num_classes}.")
        if labels == "multi_hot" and not 1 <= objects_per_video <= num_classes:
            raise ValueError(
                f"dataset_configs.synthetic.objects_per_video={objects_per_video} must be "
                f"between 1 and dataset_configs.num_classes={num_classes}.")
        if labels != "per_head" and not 2 <= num_classes <= MAX_CLASSES:
            raise ValueError(
                f"dataset_configs.num_classes={num_classes}: synthetic_motion has between 2 and "
                f"{MAX_CLASSES} classes ({', '.join(CLASS_NAMES)})."
            )
        if split not in _SPLIT_IDS:
            raise ValueError(f"Unknown split {split!r}; expected one of {sorted(_SPLIT_IDS)}.")
        for name, value in (
            ("num_examples", num_examples), ("video_frames", video_frames),
            ("resolution", resolution),
        ):
            if value < 1:
                raise ValueError(f"dataset_configs.synthetic.{name} must be >= 1, got {value}.")
        self._split_id = _SPLIT_IDS[split]
        self._num_classes = num_classes
        self._video_frames = video_frames
        self._resolution = resolution
        self._seed = seed
        self._indices = np.arange(num_examples) if indices is None else np.asarray(indices)
        self._labels = labels
        self._objects = objects_per_video
        if labels == "per_head":
            self.label_names = [name for head in HEAD_CLASS_NAMES for name in head]
        else:
            self.label_names = list(CLASS_NAMES[:num_classes])

    def __len__(self) -> int:
        return len(self._indices)

    def shard(self, indices: np.ndarray) -> "SyntheticMotionSource":
        """The same source restricted to `indices` (positions in this source)."""
        copy = object.__new__(SyntheticMotionSource)
        copy.__dict__.update(self.__dict__)
        copy._indices = self._indices[np.asarray(indices, dtype=np.int64)]
        return copy

    def __getitem__(self, position: int) -> VideoRecord:
        index = int(self._indices[position])
        rng = np.random.default_rng([self._seed, self._split_id, index])
        if self._labels == "multi_hot":
            count = int(rng.integers(1, self._objects + 1))
            classes = np.sort(rng.choice(self._num_classes, size=count, replace=False))
            # Several shapes share the frame: smaller ones overlap less.
            scenes = [_scene(rng, int(c), self._resolution, scale=0.7) for c in classes]
            label = np.zeros(self._num_classes, np.float32)
            label[classes] = 1.0
        else:
            # Classes cycle so every split is balanced.
            classes_cycled = 8 if self._labels == "per_head" else self._num_classes
            cls = index % classes_cycled
            scenes = [_scene(rng, cls, self._resolution)]
            label = (np.asarray([cls % 4, cls // 4], np.int32) if self._labels == "per_head"
                     else cls)
        return VideoRecord(
            num_frames=self._video_frames,
            label=label,
            key=f"synthetic_motion/{index}",
            read_frames=lambda frame_indices: _render(
                scenes, np.asarray(frame_indices), self._resolution
            ),
        )
