"""sanp's version, in a module of its own: modules that stamp it into files import it
from here, not from the package root (whose lazy API would close an import circle)."""

__version__ = "0.1.0"
