"""Shared test set-up: quiet TensorFlow, and a tiny config factory used across areas."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
