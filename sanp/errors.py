"""The errors sanp raises on bad input; the CLI maps each to exit code 2.

Every message says what is wrong and how to fix it, in one line.
"""
from __future__ import annotations


class SanpError(Exception):
    """Base class of every error sanp raises on bad input or an impossible request."""


class PolicyError(SanpError):
    """Raised when a policy file cannot be read, is unsupported, or does not fit the env."""


class EnvError(SanpError):
    """Raised when an environment id, its keyword arguments or a search space is invalid."""


class OptionError(SanpError):
    """Raised when a command-line option or config value is out of range."""


class OutputError(SanpError):
    """Raised when an output path cannot be written (missing directory, would overwrite input)."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for
    one-line error messages that wrap a library's exception."""
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__


class BackendError(SanpError):
    """Raised when a backend cannot start or loses work it cannot recover."""
