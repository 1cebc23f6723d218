"""vivit: ViViT video transformers in JAX/Flax, compatible with Scenic's ViViT."""

from vivit import storage as _storage

# Before anything imports etils or Orbax: gs:// through fsspec (see vivit/storage.py).
_storage.configure_environment()

__version__ = "0.1.0"
