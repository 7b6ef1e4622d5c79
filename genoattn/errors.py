"""Project exception types: every bad input ends in one of these, with a one-line message."""


class GenoattnError(Exception):
    """Base class of every error genoattn raises on purpose."""


class InputError(GenoattnError, ValueError):
    """A user-supplied file or value is malformed. The message names the file/contig/line and the problem."""


class ConfigError(GenoattnError, ValueError):
    """A configuration asks for something impossible here (names the key and why)."""


class BackendUnavailableError(GenoattnError, RuntimeError):
    """An explicitly requested attention backend cannot run these inputs (the message says why)."""
