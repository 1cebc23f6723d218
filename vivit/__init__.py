"""vivit: ViViT video transformers in JAX/Flax, compatible with Scenic's ViViT."""

from vivit import startup_notices as _startup_notices
from vivit import storage as _storage

# Before anything imports etils or Orbax: gs:// through fsspec (see vivit/storage.py).
_storage.configure_environment()
# Before anything imports TensorFlow or JAX probes its backends: their start-up notices off
# the console, their warnings on it (see vivit/startup_notices.py).
_startup_notices.silence()

__version__ = "0.1.0"


def load_run(path, checkpoint="latest", config=None):
    """A trained run from its workdir alone: `vivit.run.load_run` (imported when first called,
    so `import vivit` stays light)."""
    from vivit.run import load_run as load

    return load(path, checkpoint, config)
