"""The version of kbatch, in one place."""

__version__ = "0.1.0"
