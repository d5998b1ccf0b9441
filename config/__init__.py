"""Settings: one immutable object, read from the environment (and an optional .env) at the edge."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
