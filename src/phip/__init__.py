"""PHIP, the Population Health Information Platform."""

from importlib.metadata import PackageNotFoundError, version

try:  # the one place the version is written is pyproject.toml
    __version__ = version("phip")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
