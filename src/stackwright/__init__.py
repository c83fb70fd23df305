"""Stackwright: one declarative spec, one engine, one audit trail."""

__version__ = "0.1.0"
