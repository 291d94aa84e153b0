"""A small poll app: questions, choices and votes, with a JSON endpoint."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("polls")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
