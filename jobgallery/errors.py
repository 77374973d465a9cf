"""The project's own exceptions.

Library code raises these; only the CLI, the HTTP error handler and the
scheduler's job wrapper turn them into exit codes, JSON errors or log lines.
Each carries the HTTP status and CLI exit code it maps to, so that mapping
lives in one place.
"""


class JobGalleryError(Exception):
    """A failure we expected and can explain in one sentence."""

    status = 500
    exit_code = 1


class ConfigError(JobGalleryError):
    """The configuration file is unreadable, malformed or holds a bad setting."""

    exit_code = 2


class UsageError(JobGalleryError):
    """A command was called with arguments that cannot work."""

    status = 400
    exit_code = 2


class NotFound(JobGalleryError):
    """A job, image or user that does not exist (or is archived)."""

    status = 404


class Conflict(JobGalleryError):
    """The request clashes with the current state (e.g. job already archived)."""

    status = 409


class EmptyUpload(JobGalleryError):
    """No file, or a file of zero bytes."""

    status = 400


class TooLarge(JobGalleryError):
    """A body or file over the configured limit."""

    status = 413


class UnsupportedImage(JobGalleryError):
    """The bytes are not one of the accepted image formats (judged by content)."""

    status = 415


class BadImage(JobGalleryError):
    """An accepted format that cannot be decoded, or a decompression bomb."""

    status = 422


class LockBusy(JobGalleryError):
    """Another process holds the maintenance lock and we were told not to wait."""


class ArchiveError(JobGalleryError):
    """An archive could not be written, verified or restored."""


class UnsafePath(JobGalleryError):
    """A path made from stored data would leave the folder it belongs in (a crafted row or archive)."""


class StoreError(JobGalleryError):
    """Object storage could not be reached, refused a request, or holds something we will not trust."""
