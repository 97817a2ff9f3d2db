"""glassmm's version (a module of its own so every room can read it without the package namespace)."""

__version__ = "0.1.0"
