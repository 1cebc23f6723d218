"""Checkpoint files in other projects' formats: reading them, and writing Hugging Face ViViT.

`readers/` turns ViT and big_vision `.npz`, Scenic msgpack, Orbax directories and Hugging Face
ViT/ViViT/CvT directories into one flat, Scenic-named, per-layer `CheckpointView` (`view.py`);
`hf_writer.py` writes Model 1 as a Hugging Face ViViT directory. Fitting a view to a model is
`vivit.pretrained`'s job; the trainer's own Orbax checkpoints are `vivit.train.checkpointing`'s.
Nothing here imports `vivit.pretrained`, `vivit.train` or the trainer.

Import the modules themselves (`from vivit.formats.readers import read_checkpoint`): this file
imports nothing, so `vivit.formats.errors` loads without the readers' TensorFlow.
"""
