"""Checks that a config's clip and patch sizes give the model whole tokens in time and space.

The tubelet and patch embeddings are strided convolutions with VALID padding: a patch size that
does not divide the crop silently drops pixels, and a tubelet longer than the clip leaves no
token in time (with the class token the model then trains on the class token alone). These
checks turn both into one error naming the keys, their values and what is expected.
"""

from __future__ import annotations

import ml_collections


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def check_clip_and_patches(config: ml_collections.ConfigDict, spatial: bool = True) -> None:
    """Raises ValueError unless the patches tile dataset_configs' clip [num_frames, crop, crop]
    (in time only when `spatial` is False: a backbone with its own spatial embedding)."""
    data, model = config.dataset_configs, config.model
    num_frames, crop = _int_or_none(data.get("num_frames")), _int_or_none(data.get("crop_size"))
    if num_frames is None or num_frames <= 0:
        raise ValueError(
            f"dataset_configs.num_frames must be a positive integer, got {data.get('num_frames')!r}.")
    if crop is None or crop <= 0:
        raise ValueError(
            f"dataset_configs.crop_size must be a positive integer, got {data.get('crop_size')!r}.")
    size = tuple(model.patches.size)
    if not size or any(_int_or_none(p) is None or int(p) <= 0 for p in size):
        return  # The builder names a malformed patch size.
    size = tuple(int(p) for p in size)
    for index, axis in ((0, "height"), (1, "width")):
        if spatial and index < len(size) and crop % size[index]:
            raise ValueError(
                f"model.patches.size[{index}]={size[index]} (patch {axis}) does not divide "
                f"dataset_configs.crop_size={crop}: the embedding would drop "
                f"{crop % size[index]} pixels of every row; choose a crop or patch size that "
                "divides.")
    method = model.temporal_encoding_config.get("method")
    if method == "3d_conv" and len(size) == 3:
        time = size[2]
        if num_frames < time:
            raise ValueError(
                f"model.patches.size[2]={time} (tubelet time) is longer than the clip, "
                f"dataset_configs.num_frames={num_frames}: the model would have no token in "
                "time. Use at least as many frames as the tubelet's time size.")
        if num_frames % time:
            raise ValueError(
                f"model.patches.size[2]={time} (tubelet time) must divide "
                f"dataset_configs.num_frames={num_frames}: the embedding would drop the last "
                f"{num_frames % time} frame(s) of every clip.")

