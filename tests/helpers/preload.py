"""Imported first by the driver's fork server (helpers.forked): the environment TensorFlow is imported
in, as the driver sets it before its own import."""
from webvision.core.process import configure_tensorflow

configure_tensorflow()
import webvision.runtime.tfcompat  # noqa: E402,F401
