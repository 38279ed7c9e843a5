"""The installed medgrade's version, in a module of its own so any layer can name it.

``grader/__init__.py`` re-exports it; modules import it from here, because importing the
package root from inside it would run the root's lazy face (:func:`grader.__getattr__`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medgrade")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
