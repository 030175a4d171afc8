"""Errors that users can act on: one line that names the file, line, port or setting to fix."""

from __future__ import annotations


class ClickpulseError(Exception):
    """An error with a message a user can act on; printed without a traceback."""
