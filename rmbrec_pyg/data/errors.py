from typing import Optional


class DatasetFormatError(ValueError):
    r"""Raised when a dataset folder does not follow the expected layout.

    The message always names the file, the line number (when there is one)
    and what was expected, e.g.
    ``buy.txt, line 17: expected two integer fields 'user item', got 'a 3'``.

    Args:
        path (str): The offending file (or folder).
        message (str): What was expected and what was found.
        line (int, optional): The 1-based line number. (default: :obj:`None`)
    """
    def __init__(self, path: str, message: str,
                 line: Optional[int] = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = self.path if line is None else f'{self.path}, line {line}'
        super().__init__(f'{where}: {message}')


class ConfigError(ValueError):
    r"""Raised when a configuration value is invalid (negative weights,
    unknown modes, :obj:`k <= 0`, ...)."""


class CheckpointError(ValueError):
    r"""Raised when a checkpoint file cannot be loaded safely: missing,
    corrupt, or holding anything but tensors, numbers, strings and plain
    containers (a pickle that would run code is refused, never run)."""
