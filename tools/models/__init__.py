"""Models: resolve a name ('default', a folder, a hub id) to a local Hugging Face folder."""

from tools.models.resolve import DEFAULT_MODEL, ModelNotFoundError, is_default, resolve_model

__all__ = ["DEFAULT_MODEL", "ModelNotFoundError", "is_default", "resolve_model"]
