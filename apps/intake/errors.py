"""What can go wrong when bringing a file or a payload in: the whole file, the mapping, or one row."""


class ImportFileError(Exception):
    """The file cannot be read at all (missing, not the format it claims, refused CRS)."""


class MappingError(Exception):
    """The mapping cannot work for this layer or file; nothing is imported."""


class RowError(ValueError):
    """One row cannot be imported; the message is the reason shown to the operator, `field` the field
    (ours, e.g. "received_at") it is about, empty when it is about the whole row."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
