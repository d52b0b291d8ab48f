"""Dagster resources wrapping tickflow clients."""

from resources.tickflow import TickflowResource

__all__ = ["TickflowResource"]
