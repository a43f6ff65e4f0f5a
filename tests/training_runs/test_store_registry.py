"""The base-model registry shipped in models/: the study's 10 base models first, with their descriptors
(the current models after them are specified in tests/models/test_model_registry.py)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from models.registry import REGISTRY_CSV, BaseModelInfo, RegistryError, load_registry, lookup, read_base_models_csv
from training_runs.store.study import STUDY_DIR


def test_the_registry_lists_the_studys_10_base_models_first_in_order() -> None:
    registry = load_registry()
    assert list(registry)[:3] == ["phi-2", "gemma-2b", "gemma-2b-instruct"]
    assert len(registry) > 10
    assert registry["llama-2-7b-chat"] == BaseModelInfo(
        name="llama-2-7b-chat", hf_id="meta-llama/Llama-2-7b-chat-hf", creator="Meta", family="llama",
        params_billion=7.0, instruction_tuned=True, release_date=dt.date(2023, 7, 18), context_length=4096,
        architecture="llama", license="llama2", lora_target_modules=("q_proj", "v_proj"),
    )


def test_the_registrys_first_ten_rows_are_the_studys_base_models_table() -> None:
    study = read_base_models_csv(STUDY_DIR / "base_models.csv")
    described = [dataclasses.replace(info, architecture=None, license=None, lora_target_modules=())
                 for info in list(load_registry().values())[:10]]
    assert described == study


def test_lookup_finds_a_model_by_short_name_or_hugging_face_id_ignoring_case() -> None:
    registry = load_registry()
    assert lookup("mistral-7b", registry).hf_id == "mistralai/Mistral-7B-v0.1"
    assert lookup("mistralai/mistral-7b-instruct-v0.1", registry).name == "mistral-7b-instruct"
    assert lookup("PHI-2", registry).name == "phi-2"
    assert lookup("acme/unknown", registry) is None


@pytest.mark.parametrize(
    "row, message",
    [
        ("x,org/x,Org,fam,-1,false,2024-01-01,2048", "line 2: params_billion must be positive"),
        ("x,org/x,Org,fam,7,sometimes,2024-01-01,2048", "line 2: instruction_tuned must be true or false"),
        ("x,org/x,Org,fam,7,true,01/02/2024,2048", "line 2: release_date '01/02/2024' is not a YYYY-MM-DD date"),
        ("x,org/x,Org,fam,7,true,2024-01-01,big", "line 2: max_position_embeddings 'big' is not a whole number"),
        (",org/x,Org,fam,7,true,2024-01-01,2048", "line 2: empty model name"),
    ],
)
def test_a_malformed_registry_row_is_named(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "models.csv"
    path.write_text(REGISTRY_CSV.read_text().splitlines()[0] + "\n" + row + "\n")
    with pytest.raises(RegistryError, match=message):
        load_registry(path)


def test_a_registry_missing_a_column_or_listing_a_model_twice_is_refused(tmp_path: Path) -> None:
    lines = REGISTRY_CSV.read_text().splitlines()
    path = tmp_path / "models.csv"
    path.write_text("\n".join([lines[0].replace(",family", ",kin"), *lines[1:]]) + "\n")
    with pytest.raises(RegistryError, match="missing column\\(s\\) family"):
        load_registry(path)
    path.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(RegistryError, match="line 3: model 'phi-2' is listed twice"):
        load_registry(path)
    with pytest.raises(RegistryError, match="cannot read the base-model registry"):
        load_registry(tmp_path / "absent.csv")
