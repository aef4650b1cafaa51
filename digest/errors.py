"""The few exception classes the program raises; each message names the input and the place."""


class DigestError(Exception):
    """Base class: something the user can act on, reported without a traceback."""


class ConfigError(DigestError):
    """A setting is missing or invalid; the message names the setting."""


class SourceError(DigestError):
    """A source could not be read or parsed; the message names the source and the place."""
