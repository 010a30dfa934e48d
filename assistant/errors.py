"""Domain errors. The library raises these; the CLI and the app turn them into user-facing messages."""

from __future__ import annotations


class SupportLensError(Exception):
    """Base class for every error SupportLens reports to a user."""


class InvalidConversation(SupportLensError, ValueError):
    """The input is not a usable support conversation (empty, one-sided, too long, unknown format...)."""


class ModelUnavailable(SupportLensError):
    """A model could not be found, assembled, verified or loaded. The message says how to fix it."""


class MissingDependency(SupportLensError, ImportError):
    """An optional package is not installed. The message names the install command."""


class GenerationFailed(SupportLensError):
    """The model ran but produced nothing usable (an empty summary, a server error...)."""


class ConfigError(SupportLensError, ValueError):
    """A configuration is contradictory or incomplete; the message lists every problem."""


def require(module: str, extra_hint: str = "") -> object:
    """Import ``module`` or raise MissingDependency naming how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only on broken installs
        hint = extra_hint or f"pip install -e . (or: pip install {module.split('.')[0]})"
        raise MissingDependency(f"The package '{module}' is required here but is not installed: {hint}") from exc
