"""The package version, in one place (the package root, the CLI and the model store read it)."""

__version__ = "0.1.0"
