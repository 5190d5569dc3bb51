"""PHIP, the Population Health Information Platform."""

__version__ = "0.1.0"
