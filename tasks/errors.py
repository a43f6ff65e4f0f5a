"""The one error type of a task's data: a dataset the user can fix."""
from __future__ import annotations


class DatasetError(ValueError):
    """A task dataset that cannot be read or profiled, with a message that names the problem.

    Raised for missing or misspelled columns, empty datasets, non-text values, undecodable bytes,
    malformed JSON lines (with the line number), template fields without a column, and files that are
    not what their suffix says. It subclasses ``ValueError`` so the ``advisor`` CLI prints it as one line.

    Example:
        >>> raise DatasetError("data.csv: no column 'promt'; columns are: prompt, completion")
        Traceback (most recent call last):
        ...
        tasks.errors.DatasetError: data.csv: no column 'promt'; columns are: prompt, completion
    """
