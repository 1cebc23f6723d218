"""`synthetic_motion`: clips of moving shapes whose class is told only by motion.

Every video is a function of (seed, split, index), rendered on demand, so nothing is downloaded or
stored. Each video shows one bar-with-a-notch shape of random colour, size, position and
orientation on a random background; the class is how it moves: translation in one of four
directions at a slow or a fast speed, or rotation clockwise / counter-clockwise. Positions wrap
around the frame, and start position and orientation are uniform, so a single frame carries no
information about the class: a model that ignores time stays at chance.
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


def _scene(rng: np.random.Generator, label: int, size: int) -> _Scene:
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
        half_length=float(rng.uniform(0.18, 0.3) * size),
        half_width=float(rng.uniform(0.05, 0.09) * size),
        colour=colour.astype(np.uint8),
        background=background.astype(np.uint8),
    )


def _render(scene: _Scene, frame_indices: np.ndarray, size: int) -> np.ndarray:
    """Returns uint8 frames [len(frame_indices), size, size, 3]."""
    grid = np.arange(size, dtype=np.float64) + 0.5
    ys, xs = np.meshgrid(grid, grid, indexing="ij")
    frames = np.empty((len(frame_indices), size, size, 3), np.uint8)
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
        mask = bar | knob
        frames[out] = scene.background
        frames[out][mask] = scene.colour
    return frames


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
        indices: np.ndarray | None = None,
    ):
        if not 2 <= num_classes <= MAX_CLASSES:
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
        # Labels cycle so every split is balanced.
        label = index % self._num_classes
        scene = _scene(rng, label, self._resolution)
        return VideoRecord(
            num_frames=self._video_frames,
            label=label,
            key=f"synthetic_motion/{index}",
            read_frames=lambda frame_indices: _render(
                scene, np.asarray(frame_indices), self._resolution
            ),
        )
