"""justpush demo backend: a todo API with a chat front door."""

__version__ = "0.1.0"
