"""dmf: a dsync-compatible mail sync engine and a migration worker."""

__version__ = "0.1.0"
