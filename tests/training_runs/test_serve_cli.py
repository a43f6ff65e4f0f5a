"""`advisor serve` as a real HTTP server on 127.0.0.1, `advisor evaluate-adapters` against it, `--engine vllm`."""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from advisor.cli import main
from testsupport import free_port
from training_runs.serve.random_adapters import write_peft_adapters
from training_runs.serve.server import ServeOptions
from training_runs.serve.vllm_engine import vllm_command
from training_runs.tiny_model import write_tiny_model

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "cli-test-token"


def advisor(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``advisor`` command in this process; return (exit status, stdout, stderr)."""
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-cli")
    model_dir = write_tiny_model(root / "tiny", hidden_size=32, layers=2)
    write_peft_adapters(model_dir, root / "adapters", ["alpha", "beta"])
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ADVISOR_SERVE_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "advisor.cli", "serve", "--base-model", str(model_dir), "--adapters", str(root / "adapters"),
         "--port", str(port), "--device", "cpu", "--max-tokens", "16", "--max-prompt-tokens", "64",
         "--max-batch-size", "8", "--max-adapters", "2"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"advisor serve exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("advisor serve did not answer /health within 90 s")
            time.sleep(0.2)
        yield url, root
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def complete(url: str, model: str, prompt: str, max_tokens: int = 8) -> str:
    response = httpx.post(f"{url}/v1/completions", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60,
                          json={"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["text"]


def test_the_served_api_lists_models_and_refuses_requests_without_the_token(server):
    url, _ = server
    assert httpx.get(f"{url}/v1/models").status_code == 401
    models = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert {m["id"] for m in models["data"]} == {"tiny", "alpha", "beta"}


def test_concurrent_clients_of_different_adapters_get_what_each_would_get_alone(server):
    url, _ = server
    jobs = [(model, prompt) for prompt in ("Answer:", "Review: this movie") for model in ("tiny", "alpha", "beta")] * 2
    alone = {job: complete(url, *job) for job in set(jobs)}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        together = list(pool.map(lambda job: complete(url, *job), jobs))
    assert together == [alone[job] for job in jobs]
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "advisor_serve_adapters_loaded 2.0" in metrics


def test_evaluate_adapters_scores_each_adapter_with_the_task_metric_through_the_server(server, tmp_path, capsys):
    url, _ = server
    prompts = ["Question: what is", "Label:", "Summarize the article", "Sentence 1: A man"]
    references = [complete(url, "alpha", p, 12).strip() for p in prompts]  # alpha's own answers: it must score 1
    data = tmp_path / "task.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "completion"])
        writer.writerows(zip(prompts, references))
    status, out, err = advisor(capsys, "evaluate-adapters", "--server", url, "--data", str(data), "--adapters",
                               "alpha,beta", "--metric", "exact_match", "--max-tokens", "12", "--token", TOKEN)
    assert status == 0, err
    rows = {line.split()[0]: line.split() for line in out.strip().splitlines()[1:]}
    assert rows["alpha"][1:3] == ["exact_match", "1.0000"]
    assert float(rows["beta"][2]) < 1.0 and rows["beta"][3] == "4"


def test_evaluate_adapters_names_an_adapter_the_server_does_not_have(server, tmp_path, capsys):
    url, _ = server
    data = tmp_path / "task.csv"
    data.write_text("prompt,completion\nQ,A\n")
    status, _, err = advisor(capsys, "evaluate-adapters", "--server", url, "--data", str(data), "--adapters",
                             "alpha,ghost", "--token", TOKEN)
    assert status == 2
    assert "no model named 'ghost'" in err and len(err.strip().splitlines()) == 1


def test_serve_refuses_a_missing_adapters_directory_in_one_line(tmp_path, capsys):
    status, _, err = advisor(capsys, "serve", "--base-model", str(tmp_path), "--adapters", str(tmp_path / "missing"))
    assert status == 2 and "adapters directory" in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_engine_vllm_without_vllm_installed_says_how_to_get_it(tmp_path, capsys):
    status, _, err = advisor(capsys, "serve", "--engine", "vllm", "--base-model", str(tmp_path), "--adapters", str(tmp_path))
    assert status == 2 and "needs vLLM" in err and "pip install vllm" in err


def test_the_vllm_command_line_carries_the_adapters_and_limits(tmp_path):
    model_dir = write_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1)
    write_peft_adapters(model_dir, tmp_path / "adapters", ["alpha"])
    options = ServeOptions(base_model=str(model_dir), adapters_dir=str(tmp_path / "adapters"), port=9001, api_token="t")
    command = vllm_command(options)
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert command[command.index("--lora-modules") + 1] == f"alpha={(tmp_path / 'adapters' / 'alpha').resolve()}"
    assert command[command.index("--served-model-name") + 1] == "tiny"
    assert command[command.index("--max-lora-rank") + 1] == "16" and "--enable-lora" in command
    assert "t" not in command  # the token travels in VLLM_API_KEY, not on the command line


def test_default_limits_shrink_to_a_model_with_a_short_context_and_explicit_ones_are_checked(tmp_path):
    from training_runs.serve.server import build_server

    model_dir = write_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1, max_position_embeddings=256)
    (tmp_path / "adapters").mkdir()
    options = ServeOptions(base_model=str(model_dir), adapters_dir=str(tmp_path / "adapters"), device="cpu",
                           fit_to_context=True)
    app, engine = build_server(options)
    limits = app.state.settings.limits
    assert engine.config.max_seq_len == 256 and limits.max_tokens == 128 and limits.max_prompt_tokens == 128
    with pytest.raises(ValueError, match="exceeds what the base model attends to"):
        build_server(ServeOptions(base_model=str(model_dir), adapters_dir=str(tmp_path / "adapters"), device="cpu"))


def test_serve_refuses_a_non_positive_adapter_load_timeout_in_one_line(tmp_path, capsys):
    status, _, err = advisor(capsys, "serve", "--base-model", str(tmp_path), "--adapters", str(tmp_path),
                             "--adapter-load-timeout", "0")
    assert status == 2 and "adapter_load_timeout must be a positive number" in err and len(err.strip().splitlines()) == 1


def test_the_vllm_command_line_leaves_out_adapters_that_cannot_be_served(tmp_path):
    model_dir = write_tiny_model(tmp_path / "tiny", hidden_size=32, layers=1)
    write_peft_adapters(model_dir, tmp_path / "adapters", ["alpha", "broken"])
    (tmp_path / "adapters" / "broken" / "adapter_config.json").write_text("{not json")
    command = vllm_command(ServeOptions(base_model=str(model_dir), adapters_dir=str(tmp_path / "adapters")))
    modules = command[command.index("--lora-modules") + 1:]
    assert [m.split("=")[0] for m in modules] == ["alpha"]
