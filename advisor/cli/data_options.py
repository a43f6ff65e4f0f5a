"""Options shared by every command that reads a task dataset (profile, rank, finetune, score-catalog).

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_data_options(parser)
    >>> args = parser.parse_args(["data.csv", "--prompt-col", "question", "--completion-col", "answer"])
    >>> args.prompt_col, args.completion_col
    ('question', 'answer')
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the tasks package (pyarrow) is imported when a dataset is opened, not for --help
    from tasks import TaskData

#: Formats --format accepts (tasks.formats.FORMATS, spelled here so --help imports nothing).
FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")

_FILE_HELP = (
    "dataset: a .csv, .tsv, .jsonl, .json or .parquet file (the text formats also gzip-compressed: .csv.gz, "
    ".jsonl.gz ...), a saved Hugging Face dataset folder, - for standard input (format sniffed from the first "
    "bytes unless --format says), or a Hugging Face Hub dataset as hf://owner/name (or owner/name when no such "
    "file exists)"
)


def add_data_options(parser: argparse.ArgumentParser, *, positional: bool = True, task_dir: bool = True) -> None:
    """Add the dataset (FILE, optional positional; with ``positional=False`` the option ``--data FILE``),
    --task-dir and the column/template options to ``parser``."""
    if positional:
        parser.add_argument("file", nargs="?", metavar="FILE", help=_FILE_HELP)
    else:
        parser.add_argument("--data", dest="file", metavar="FILE", help=_FILE_HELP)
    group = parser.add_argument_group("dataset columns")
    if task_dir:
        group.add_argument("--task-dir", type=Path, metavar="DIR", help="a task folder with metadata.yaml and train.jsonl")
    group.add_argument("--prompt-col", metavar="COL", help="column holding the prompt (default: prompt)")
    group.add_argument("--completion-col", metavar="COL", help="column holding the expected output (default: completion)")
    group.add_argument(
        "--format", choices=FORMATS, type=str.lower,
        help="the dataset's format, when its name does not say it (e.g. FILE is - or data.txt); standard "
             "input without it is sniffed: gzip is seen through, then Parquet, JSON Lines / JSON, TSV or CSV",
    )
    group.add_argument(
        "--template-file", type=Path, metavar="YAML",
        help="a metadata.yaml with prompt_template, input_columns and target_col (as the study's tasks)",
    )
    group.add_argument("--template", metavar="TEXT", help="a prompt template with {column} fields; needs --target-col")
    group.add_argument("--input-cols", metavar="A,B", help="input columns (without --template: joined as 'col: value')")
    group.add_argument("--target-col", metavar="COL", help="column holding the expected output, with a template")
    group.add_argument(
        "--metric", metavar="NAME",
        help="the task's metric: exact_match, binary_flex, first_number, rouge_l, sts, json_match or a study name "
             "such as accuracy or rouge (default: the task folder's or template file's metric_name, else inferred "
             "from the outputs)",
    )
    group.add_argument(
        "--n-examples", type=int, metavar="N",
        help="size of the full training set when FILE is a sample of it (default: the rows in FILE)",
    )


def load_task_from_args(args: argparse.Namespace, source: str | Path | None = None) -> "TaskData":
    """Open the dataset the data options describe (``source`` overrides FILE, e.g. for a catalog).

    Raises :class:`tasks.DatasetError` (a ``ValueError``, printed by ``advisor`` as one line) when
    the options conflict or the data is unreadable.
    """
    from tasks import DatasetError, load_task, load_task_dir

    task_dir = getattr(args, "task_dir", None)
    file = source if source is not None else getattr(args, "file", None)
    template_file = getattr(args, "template_file", None)
    template_text = getattr(args, "template", None)
    n_examples = getattr(args, "n_examples", None)
    metric = getattr(args, "metric", None)
    file_format = getattr(args, "format", None)
    if n_examples is not None and n_examples < 1:
        raise DatasetError(f"--n-examples must be a positive number, got {n_examples}")
    if task_dir is not None:
        if file is not None:
            raise DatasetError("give either FILE or --task-dir, not both")
        if template_file or template_text or args.prompt_col or args.completion_col:
            raise DatasetError("--task-dir takes its columns from the folder's metadata.yaml; drop the column options")
        if file_format:
            raise DatasetError("--format is for FILE; a --task-dir folder holds train.jsonl")
        return load_task_dir(task_dir, n_examples=n_examples, metric=metric)
    if file is None:
        raise DatasetError("no dataset: give FILE or --task-dir DIR")
    if template_file and template_text:
        raise DatasetError("give either --template-file or --template, not both")
    if (template_file or template_text) and args.prompt_col:
        raise DatasetError("give either --prompt-col/--completion-col or a template, not both")
    return load_task(
        file,
        prompt_col=args.prompt_col,
        completion_col=args.completion_col,
        template=Path(template_file) if template_file else template_text,
        input_columns=args.input_cols,
        target_col=args.target_col,
        n_examples=n_examples,
        metric=metric,
        format=file_format,
    )
