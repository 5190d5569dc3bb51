"""Indicators over the lake: the catalogue as data, compiled to SQL per engine."""
