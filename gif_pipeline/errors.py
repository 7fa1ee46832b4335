"""Exceptions that the CLI turns into one clear line on stderr and a non-zero exit."""


class GifnetsError(Exception):
    """Base class of every error gifnets reports to a user."""


class ImageLoadError(GifnetsError):
    """An input file is missing, corrupt, truncated, not an image, or too large."""


class OutputExistsError(GifnetsError):
    """The output exists (and ``--force`` was not given), or would overwrite an input."""


class MissingPrerequisiteError(GifnetsError):
    """A trained model or other prerequisite is missing; the message names the command to run first."""
