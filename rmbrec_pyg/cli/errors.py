import sys
from typing import Callable, NoReturn, TypeVar

from rmbrec_pyg.data.errors import (CheckpointError, ConfigError,
                                    DatasetFormatError)

T = TypeVar('T')
USER_ERRORS = (DatasetFormatError, ConfigError, CheckpointError)


def fail(prog: str, message: str) -> NoReturn:
    r"""Prints one line to stderr and exits with code 2."""
    print(f'{prog}: error: {message}', file=sys.stderr, flush=True)
    sys.exit(2)


def report_user_errors(prog: str, fn: Callable[[], T]) -> T:
    r"""Runs :obj:`fn` and turns input and configuration errors into one
    line on stderr and exit code 2, without a traceback."""
    try:
        return fn()
    except USER_ERRORS as e:
        fail(prog, str(e))
    except FileNotFoundError as e:
        fail(prog, str(e))
