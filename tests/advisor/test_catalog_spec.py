"""advisor.catalog_spec: reading task catalogs (YAML or CSV) and rejecting malformed ones clearly."""
from __future__ import annotations

import pytest

from advisor.catalog_spec import CatalogError, parse_catalog_text, read_catalog
from advisor.examples import example_catalog_path, list_examples


def test_the_bundled_example_catalog_lists_every_bundled_example_with_existing_files():
    entries = read_catalog(example_catalog_path())
    assert [e.name for e in entries] == [e.name for e in list_examples()]
    for entry in entries:
        assert entry.dataset is not None
        assert (example_catalog_path().parent / entry.dataset).is_file()


def test_yaml_entries_resolve_relative_paths_against_the_catalog_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x,y\n1,2\n")
    catalog = tmp_path / "cat.yaml"
    catalog.write_text(
        "tasks:\n"
        "  - name: a\n    dataset: data/a.csv\n    input_columns: x\n    target_col: y\n"
        "    template: 'Q: {x}'\n    base_scores: {mistral-7b: 0.4}\n    sample: 100\n"
        "  - name: b\n    task_dir: /somewhere/glue_sst2\n"
    )
    a, b = read_catalog(catalog)
    assert a.dataset == str(tmp_path / "data" / "a.csv")
    assert a.load_kwargs() == {"template": "Q: {x}", "input_columns": ["x"], "target_col": "y"}
    assert a.base_scores == {"mistral-7b": 0.4} and a.sample == 100
    assert b.task_dir == "/somewhere/glue_sst2" and b.dataset is None


def test_a_relative_name_that_is_no_file_is_kept_as_a_hugging_face_id(tmp_path):
    (entry,) = parse_catalog_text("- {name: q, dataset: org/some_dataset}", ".yaml", base=tmp_path)
    assert entry.dataset == "org/some_dataset"


def test_csv_catalogs_take_comma_separated_inputs_and_base_score_columns(tmp_path):
    catalog = tmp_path / "cat.csv"
    catalog.write_text(
        "name,dataset,input_columns,target_col,template,base_score:phi-2,base_score:mistral-7b\n"
        "t1,t1.jsonl,\"subject, body\",queue,\"{subject} {body}\",0.25,\n"
        "t2,t2.csv,,,,,\n"
    )
    t1, t2 = read_catalog(catalog)
    assert t1.input_columns == ("subject", "body")
    assert t1.base_scores == {"phi-2": 0.25}
    assert t2.base_scores == {} and t2.load_kwargs() == {}


def test_an_entry_may_name_its_metric_which_reaches_the_loader():
    (entry,) = parse_catalog_text("- {name: a, dataset: a.csv, prompt_col: p, completion_col: c, metric: rouge}", ".yaml")
    assert entry.metric == "rouge"
    assert entry.load_kwargs()["metric"] == "rouge"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- {dataset: a.csv}", "has no name"),
        ("- {name: a}", "exactly one of 'dataset'"),
        ("- {name: a, dataset: a.csv, task_dir: d}", "exactly one of 'dataset'"),
        ("- {name: a, dataset: a.csv, prompt_column: p}", "unknown keys \\['prompt_column'\\]"),
        ("- {name: a, dataset: a.csv, base_scores: {phi-2: 1.5}}", "must be in \\[0, 1\\]"),
        ("- {name: a, dataset: a.csv, base_scores: {phi-2: high}}", "is not a number"),
        ("- {name: a, dataset: a.csv, sample: -3}", "sample must be positive"),
        ("- {name: a, dataset: a.csv, metric: accuracyy}", "entry 'a': unknown metric 'accuracyy'"),
        ("- {name: a, dataset: a.csv}\n- {name: a, dataset: b.csv}", "appears more than once"),
        ("[]", "lists no tasks"),
        ("{tasks_list: []}", "'tasks' list"),
        ("name: [unclosed", "not valid YAML"),
    ],
)
def test_a_malformed_catalog_is_rejected_with_a_message_naming_the_problem(text, message):
    with pytest.raises(CatalogError, match=message):
        parse_catalog_text(text, ".yaml")


def test_a_missing_catalog_or_an_unknown_suffix_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="catalog not found"):
        read_catalog(tmp_path / "nope.yaml")
    (tmp_path / "cat.txt").write_text("x")
    with pytest.raises(CatalogError, match=r"\.yaml, \.yml or \.csv"):
        read_catalog(tmp_path / "cat.txt")
