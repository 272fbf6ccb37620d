"""fleet: run a change or a check across Azure Arc-enabled servers through the Run command API."""

__version__ = "0.1.0"
