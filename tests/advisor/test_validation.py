"""The learning-curve probe (`advisor validate`): ladder, extrapolation, combination with the prior, P(best),
the stopping rule, the recorded runs, and end to end with the real SmolLM2-135M (locally and on Ray)."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from testsupport import free_port, write_pairs_csv
from real_model_tasks import ticket_routing_pairs

from advisor import validation
from advisor.cli import main
from advisor.cli import validate_commands
from advisor.recommendation import Explanation, Gpt4Forecast, ModelForecast, Recommendation
from advisor.rungs import RungMeasurement
from advisor.validation import (
    ScoreEstimate,
    ValidationError,
    combine,
    extrapolate_score,
    plan_ladder,
    precision_weighted,
    prior_estimate,
    probability_best,
    validate,
)
from training_runs.qlora import QLoRAConfig
from training_runs.store import Store
from training_runs.tiny_model import write_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _forecast(name: str, score: float, rank: int, half_width: float = 0.1) -> ModelForecast:
    return ModelForecast(name, score, score - half_width, score + half_width, 0.1, score - 0.1, 0.5, 0.5, rank=rank)


def _recommendation(*forecasts: ModelForecast) -> Recommendation:
    return Recommendation(list(forecasts), Explanation([], [], "test"), gpt4=Gpt4Forecast(0.5, 0.4, 0.6),
                          verdict="possible", confidence="not very sure", verdict_probability=0.5, expected_regret=0.0,
                          models_to_validate=[f.base_model for f in forecasts])


def _rung(model: str, n: int, loss: float, score: float, n_eval: int = 100) -> RungMeasurement:
    return RungMeasurement(base_model=model, rung=0, fraction=0.0, n_train=n, n_eval=n_eval, steps=n // 16,
                           eval_loss=loss, score=score, metric="exact_match", train_loss=None, seconds=0.0,
                           device="cpu", quantized=False, n_truncated=0, max_new_tokens=4)


def _runs(url: str | None = None):
    with Store.open(url or os.environ["ADVISOR_DB_URL"]) as store:
        return store.runs_frame()


# ------------------------------------------------------------------------------------------ the ladder
def test_the_ladder_gives_nested_rung_sizes_with_steps_for_the_epochs_asked():
    plan = plan_ladder(3200, (1 / 64, 1 / 32, 1 / 16, 1 / 8), effective_batch=16, epochs=2.0, min_steps=5)
    assert [r["n_train"] for r in plan] == [50, 100, 200, 400]
    assert [r["steps"] for r in plan] == [7, 13, 25, 50]
    assert [r["steps"] for r in plan_ladder(3200, (1 / 8, 1 / 4), 16, 1.0, 10, max_steps=30)] == [25, 30]


@pytest.mark.parametrize("ladder, message", [
    ((1 / 8,), "at least two rungs"),
    ((1 / 4, 1 / 8), "increasing fractions"),
    ((0.5, 1.5), "increasing fractions"),
])
def test_a_ladder_that_is_not_increasing_fractions_is_refused(ladder, message):
    with pytest.raises(ValidationError, match=message):
        validate([("a", "b")] * 10, _recommendation(_forecast("m", 0.5, 1)), {}, ladder=ladder)


def test_rungs_too_small_for_the_data_are_refused_naming_their_sizes():
    with pytest.raises(ValidationError, match="gives rungs of 2, 2 examples"):
        plan_ladder(100, (1 / 64, 1 / 60), 16, 1.0, 1)


# ------------------------------------------------------------------------------------------ the combination
def test_the_prior_is_the_advisors_forecast_with_the_sd_its_interval_implies():
    prior = prior_estimate(ModelForecast("m", 0.6, 0.4, 0.8, 0.2, 0.4, 0.5, 0.5, rank=1, interval_level=0.8))
    assert prior.mean == 0.6 and prior.sd == pytest.approx(0.2 / 1.2816, rel=1e-3)
    assert (prior.low, prior.high) == pytest.approx((0.4, 0.8))


def test_joint_prior_samples_when_present_give_the_prior_and_keep_their_correlation():
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 0.1, 4000)
    samples = {"a": 0.60 + shared, "b": 0.59 + shared}  # perfectly correlated: a is always 0.01 ahead
    forecasts = [_forecast("a", 0.6, 1), _forecast("b", 0.59, 2)]
    assert prior_estimate(forecasts[0], samples).sd == pytest.approx(0.1, abs=0.01)
    independent = combine(forecasts, {}, 1000)
    correlated = combine(forecasts, {}, 1000, samples=samples)
    assert 0.4 < independent[0].p_best < 0.6
    assert correlated[0].base_model == "a" and correlated[0].p_best == 1.0


def test_precision_weighting_moves_the_belief_towards_the_sharper_estimate():
    prior = ScoreEstimate.gaussian(0.4, 0.2, 0.8)
    sharp = ScoreEstimate.gaussian(0.8, 0.02, 0.8)
    post = precision_weighted(prior, sharp)
    assert 0.79 < post.mean < 0.8 and post.sd < 0.02 and post.low < post.mean < post.high


def test_p_best_sums_to_one_and_favours_the_clearly_higher_model():
    p = probability_best([ScoreEstimate.gaussian(0.8, 0.02, 0.8), ScoreEstimate.gaussian(0.6, 0.02, 0.8),
                          ScoreEstimate.gaussian(0.79, 0.02, 0.8)])
    assert sum(p) == pytest.approx(1.0) and p[1] == 0.0 and p[0] > p[2] > 0.2


def test_ties_at_a_score_of_zero_are_not_all_given_to_the_first_model():
    p = probability_best([ScoreEstimate.gaussian(0.0, 0.05, 0.8), ScoreEstimate.gaussian(0.0, 0.05, 0.8)])
    assert p[0] == pytest.approx(0.5, abs=0.03)


def test_a_learning_curve_is_extrapolated_to_a_higher_score_at_the_full_data():
    rungs = [_rung("m", 0, 3.0, 0.10), _rung("m", 100, 1.6, 0.40), _rung("m", 200, 1.3, 0.52),
             _rung("m", 400, 1.05, 0.62), _rung("m", 800, 0.9, 0.69)]
    for method in validation.SCORE_METHODS:
        score, loss = extrapolate_score(rungs, 6400, method=method)
        assert 0.69 < score.mean <= 1.0 and score.low < score.mean < score.high, method
        assert loss[0] < 0.9 and loss[1] < loss[0] < loss[2]
    assert extrapolate_score(rungs[:2], 6400) == (None, None)  # one fine-tuned rung is not a curve


def test_without_two_fine_tuned_rungs_the_combination_is_the_prior():
    forecasts = [_forecast("a", 0.7, 1), _forecast("b", 0.5, 2)]
    out = combine(forecasts, {"a": [_rung("a", 0, 3.0, 0.1)], "b": []}, 1000)
    assert [m.base_model for m in out] == ["a", "b"]
    assert out[0].extrapolated is None and out[0].combined == out[0].prior and out[0].p_best > 0.9


def test_measured_curves_overturn_a_prior_that_ranked_the_models_the_other_way():
    forecasts = [_forecast("favoured", 0.7, 1, 0.15), _forecast("underdog", 0.6, 2, 0.15)]
    measured = {
        "favoured": [_rung("favoured", n, 2.0 * (n + 1) ** -0.05, s)
                     for n, s in ((0, 0.05), (100, 0.20), (200, 0.22), (400, 0.24))],
        "underdog": [_rung("underdog", n, 2.0 * (n + 1) ** -0.3, s)
                     for n, s in ((0, 0.05), (100, 0.50), (200, 0.62), (400, 0.72))],
    }
    out = combine(forecasts, measured, 3200)
    assert out[0].base_model == "underdog" and out[0].p_best > 0.95
    assert out[0].combined.mean > out[0].prior.mean and out[1].combined.mean < out[1].prior.mean


def test_a_score_still_at_its_zero_shot_level_is_not_extrapolated_and_the_prior_stands():
    # SmolLM2 on ticket routing after 4 steps on 16 and 32 tickets: loss falling, score still 0 (it reaches 1.0
    # on the full data): a flat score says learning has not started, not where it ends
    rungs = [_rung("m", 0, 14.3, 0.0, n_eval=48), _rung("m", 16, 6.64, 0.0, n_eval=48), _rung("m", 32, 6.25, 0.0, n_eval=48)]
    score, loss = extrapolate_score(rungs, 256)
    assert score is None and loss[0] < 6.25
    out = combine([_forecast("m", 0.78, 1, 0.23)], {"m": rungs}, 256)
    assert out[0].combined == out[0].prior and not out[0].score_moved
    assert validation.score_has_moved(rungs + [_rung("m", 64, 2.0, 0.23, n_eval=48)])


# ------------------------------------------------------------------------------------------ the stopping rule
class _FakeRungs:
    """Stands in for measure_rung (no training): models named 'fast...' learn the task quickly, others barely."""

    def __init__(self):
        self.calls: list[tuple[str, int]] = []

    def __call__(self, spec):
        self.calls.append((spec.base_model, len(spec.train_pairs)))
        n = len(spec.train_pairs)
        if spec.base_model.startswith("fast"):
            score = 0.0 if n == 0 else min(0.95, 0.3 + 0.1 * math.log2(n))
        else:
            score = 0.0 if n == 0 else 0.05
        loss = 3.0 / (1 + n) ** (0.3 if spec.base_model.startswith("fast") else 0.02)
        return RungMeasurement(base_model=spec.base_model, rung=spec.rung, fraction=spec.fraction, n_train=n,
                               n_eval=len(spec.eval_pairs), steps=spec.config.max_steps if n else 0, eval_loss=loss,
                               score=score, metric=spec.metric, train_loss=None, seconds=0.01, device="cpu",
                               quantized=False, n_truncated=0, max_new_tokens=2)


@pytest.fixture
def fake_rungs(monkeypatch, tmp_path):
    fake = _FakeRungs()
    monkeypatch.setattr(validation, "measure_rung", fake)
    monkeypatch.setattr(validation, "resolve_model_sources", lambda names, paths, **_: {n: "unused" for n in names})
    return fake


def test_the_ladder_stops_after_the_second_rung_once_one_model_is_clearly_ahead(fake_rungs, tmp_path):
    rec = _recommendation(_forecast("slow", 0.6, 1), _forecast("fast", 0.55, 2))
    config = QLoRAConfig.plain_lora(eval_size=100, device="cpu")
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        report = validate(ticket_routing_pairs(1700), rec, {"slow": "x", "fast": "y"}, config=config,
                          ladder=(1 / 64, 1 / 32, 1 / 16, 1 / 8), store=store)
        runs = store.runs_frame()
    assert report.stopped_early and report.rungs_run == 2
    assert report.best.base_model == "fast" and report.best.p_best >= 0.95
    assert sorted(n for m, n in fake_rungs.calls if m == "fast") == [0, 25, 50]  # rungs 3 and 4 never ran
    # the zero-shot rung and each fine-tuned rung recorded, all under the validation's id
    by_kind = runs.groupby("kind").size().to_dict()
    assert by_kind == {"learning-curve": 4, "zero-shot": 2}
    assert all(p.startswith(report.validation_id) for p in runs["provenance"])
    curve = runs[(runs["kind"] == "learning-curve") & (runs["model"] == "fast")].sort_values("run_id")
    assert [m["n_train"] for m in curve["metrics"]] == [25, 50]
    assert all(m["validation_id"] == report.validation_id and m["eval_loss"] > 0 for m in curve["metrics"])
    assert sorted(report.best.run_ids) == sorted(runs[runs["model"] == "fast"]["run_id"].tolist())


def test_without_a_clear_leader_every_rung_runs(fake_rungs):
    rec = _recommendation(_forecast("fast", 0.6, 1), _forecast("fast-too", 0.6, 2))  # two identical curves
    report = validate(ticket_routing_pairs(900), rec, {"fast": "x", "fast-too": "y"},
                      config=QLoRAConfig.plain_lora(eval_size=100), ladder=(1 / 16, 1 / 8, 1 / 4))
    assert not report.stopped_early and report.rungs_run == 3
    assert all(0.2 < m.p_best < 0.8 for m in report.models)


def test_plain_pairs_are_ranked_by_the_advisor_and_its_top_k_are_probed(fake_rungs):
    from advisor.api import Advisor

    advisor = Advisor.load()
    pairs = ticket_routing_pairs(400)
    report = validate(pairs, advisor, {}, top_k=2, config=QLoRAConfig.plain_lora(eval_size=50),
                      ladder=(1 / 8, 1 / 4))
    from tasks import load_task

    top = [f.base_model for f in advisor.rank(load_task([{"prompt": p, "completion": c} for p, c in pairs])).forecasts[:2]]
    assert sorted(m.base_model for m in report.models) == sorted(top)
    assert {m for m, _ in fake_rungs.calls} == set(top)


def test_a_model_without_runs_named_in_the_shortlist_is_ranked_and_probed(fake_rungs):
    from advisor.api import Advisor

    advisor = Advisor.load().with_base_model("fast-new", params_billion=0.1, instruction_tuned=True,
                                             release_date="2024-10-31")
    report = validate(ticket_routing_pairs(400), advisor, {}, models=["fast-new", "phi-2"],
                      config=QLoRAConfig.plain_lora(eval_size=50), ladder=(1 / 8, 1 / 4))
    assert {m.base_model for m in report.models} == {"fast-new", "phi-2"}
    assert report.best.base_model == "fast-new"  # it learns the task in the fake rungs, phi-2 does not


def test_a_shortlist_of_named_models_must_be_in_the_ranking(fake_rungs):
    rec = _recommendation(_forecast("a", 0.6, 1))
    with pytest.raises(ValidationError, match="not in the advisor's ranking: zzz"):
        validate(ticket_routing_pairs(300), rec, {}, models=["zzz"], config=QLoRAConfig.plain_lora(eval_size=10))


def test_the_report_prints_rungs_prior_extrapolation_and_combination_side_by_side(fake_rungs):
    rec = _recommendation(_forecast("slow", 0.6, 1), _forecast("fast", 0.55, 2))
    report = validate(ticket_routing_pairs(1700), rec, {}, config=QLoRAConfig.plain_lora(eval_size=100),
                      ladder=(1 / 64, 1 / 32, 1 / 16))
    text = validate_commands.format_report(report, recorded=False)
    assert "measured rungs (held-out loss / score):" in text and "zero-shot" in text and "25 ex / 10 st" in text
    assert "advisor prior" in text and "extrapolated" in text and "combined" in text and "P(best)" in text
    assert "best: fast" in text and "stopping rule: stop after a fine-tuned rung" in text
    data = report.to_dict()
    assert data["best"] == "fast" and data["models"][0]["rungs"][0]["n_train"] == 0
    json.dumps(data)


# ------------------------------------------------------------------------------------------ the CLI
class _FakeAdvisor:
    """Ranks the real model first and the tiny random model second (the predictor is tested elsewhere)."""

    def rank(self, task_data, base_models=None):
        forecasts = [_forecast("smollm2-135m-instruct", 0.6, 1, 0.3), _forecast("tiny-random", 0.55, 2, 0.3),
                     _forecast("mistral-7b", 0.5, 3)]
        return _recommendation(*[f for f in forecasts if base_models is None or f.base_model in base_models])


@pytest.fixture
def tickets_csv(tmp_path):
    return write_pairs_csv(tmp_path / "tickets.csv", ("ticket", "team"), ticket_routing_pairs(160))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama", hidden_size=32, layers=2)


#: Plain LoRA on CPU, batches of 4 x 2, a learning rate that suits a few dozen steps (as the real-model tests).
FAST_RECIPE = ["--no-quantize", "--device", "cpu", "--batch-size", "4", "--effective-batch", "8",
               "--learning-rate", "4e-3", "--eval-size", "32", "--min-steps", "4"]


@pytest.mark.slow
def test_advisor_validate_runs_the_ladder_with_real_models_and_records_linked_learning_curve_runs(
    smollm2_dir, tiny_dir, tickets_csv, capsys, monkeypatch
):
    monkeypatch.setattr(validate_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(tickets_csv), "--prompt-col", "ticket", "--completion-col", "team",
                   "--top-k", "2", "--base-model-path", f"smollm2-135m-instruct={smollm2_dir}",
                   "--base-model-path", f"tiny-random={tiny_dir}", "--ladder", "1/4,1/2,1", "--epochs", "2", "--json",
                   *FAST_RECIPE])
    report = json.loads(capsys.readouterr().out)
    assert status == 0
    models = {m["base_model"]: m for m in report["models"]}
    assert set(models) == {"smollm2-135m-instruct", "tiny-random"}  # mistral-7b (rank 3) is not probed
    real, tiny = models["smollm2-135m-instruct"], models["tiny-random"]
    assert [r["n_train"] for r in real["rungs"]][:3] == [0, 32, 64]
    # the real model learns the routing words (16 steps on 64 tickets: 0.8-0.9); the random one cannot
    assert real["rungs"][2]["score"] >= 0.5 > tiny["rungs"][2]["score"]
    assert real["rungs"][-1]["eval_loss"] < real["rungs"][0]["eval_loss"]
    assert report["best"] == "smollm2-135m-instruct" and real["p_best"] > 0.5
    assert real["extrapolated"] is not None and real["combined"]["low"] <= real["combined"]["mean"]
    assert report["stopped_early"] == (report["rungs_run"] < 3)

    runs = _runs()
    assert set(runs["kind"]) == {"zero-shot", "learning-curve"}
    assert all(p.startswith(report["validation_id"]) for p in runs["provenance"])
    real_runs = runs[runs["model"] == "smollm2-135m-instruct"]
    assert len(real_runs) == 1 + report["rungs_run"] and sorted(real_runs["run_id"]) == sorted(real["run_ids"])
    curve = real_runs[real_runs["kind"] == "learning-curve"].sort_values("run_id")
    assert [m["n_train"] for m in curve["metrics"]] == [r["n_train"] for r in real["rungs"][1:]]
    assert curve["score"].tolist() == pytest.approx([r["score"] for r in real["rungs"][1:]])


def test_advisor_validate_prints_the_rungs_and_the_forecasts_of_the_top_k_side_by_side(
    tiny_dir, tickets_csv, capsys, monkeypatch
):
    monkeypatch.setattr(validate_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(tickets_csv), "--prompt-col", "ticket", "--completion-col", "team",
                   "--models", "tiny-random,mistral-7b", "--base-model-path", f"tiny-random={tiny_dir}",
                   "--base-model-path", f"mistral-7b={tiny_dir}", "--ladder", "1/8,1/4", "--quiet", *FAST_RECIPE])
    out = capsys.readouterr().out
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("validation validate-") and "forecast at 128 training examples" in lines[0]
    table = lines[lines.index("measured rungs (held-out loss / score):") + 1]
    assert table.split()[:3] == ["base", "model", "zero-shot"] and "16 ex / 4 st" in table and "32 ex / 4 st" in table
    forecast = lines.index("full-data forecast (80% intervals):")
    assert {lines[forecast + 3].split()[0], lines[forecast + 4].split()[0]} == {"tiny-random", "mistral-7b"}
    assert "smollm2-135m-instruct" not in out  # the shortlist named by --models, not the top K
    assert lines[-1] == f"recorded 6 runs (provenance {lines[0].split()[1].rstrip(':')}...)"
    runs = _runs()
    assert sorted(runs["model"]) == ["mistral-7b"] * 3 + ["tiny-random"] * 3


def test_advisor_validate_refuses_models_it_cannot_load_offline_before_training(tickets_csv, capsys, monkeypatch):
    monkeypatch.setattr(validate_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(tickets_csv), "--prompt-col", "ticket", "--completion-col", "team",
                   "--top-k", "3", "--base-model-path", "smollm2-135m-instruct=/no/such/dir", *FAST_RECIPE])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "base model smollm2-135m-instruct: '/no/such/dir': no such directory" in err
    assert _runs().empty


def test_advisor_validate_names_the_models_missing_offline(tickets_csv, tiny_dir, capsys, monkeypatch):
    monkeypatch.setattr(validate_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(tickets_csv), "--prompt-col", "ticket", "--completion-col", "team",
                   "--models", "tiny-random,mistral-7b", "--base-model-path", f"tiny-random={tiny_dir}", *FAST_RECIPE])
    err = capsys.readouterr().err
    assert status == 2
    assert "not available offline: mistral-7b (mistralai/" in err and "--base-model-path NAME=PATH" in err


@pytest.mark.parametrize("options, message", [
    (["--base-model-path", "mistral-7b"], "--base-model-path expects NAME=PATH"),
    (["--ladder", "1/8,half"], "--ladder expects fractions"),
    (["--ladder", "1/8"], "at least two rungs"),
    (["--top-k", "0"], "--top-k must be at least 1"),
    (["--batch-size", "3"], "must divide --effective-batch"),
])
def test_advisor_validate_reports_bad_options_in_one_line(tickets_csv, capsys, monkeypatch, options, message):
    monkeypatch.setattr(validate_commands, "load_advisor", lambda artifact: _FakeAdvisor())
    status = main(["validate", str(tickets_csv), "--prompt-col", "ticket", "--completion-col", "team",
                   *FAST_RECIPE, *options])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("advisor validate: error: ") and message in err and err.count("\n") == 1


# ------------------------------------------------------------------------------------------ on Ray
@pytest.fixture
def local_ray_with_a_gpu():
    """A local Ray instance with one logical GPU, so rungs asking for a GPU schedule on this CPU machine."""
    ray = pytest.importorskip("ray")
    import sys

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                                       "OMP_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_the_ray_engine_runs_each_model_and_rung_as_a_gpu_task_with_the_real_model(
    smollm2_dir, tiny_dir, tmp_path, local_ray_with_a_gpu
):
    rec = _FakeAdvisor().rank(None)
    config = QLoRAConfig.plain_lora(per_device_batch_size=4, gradient_accumulation_steps=2, learning_rate=4e-3,
                                    lora_dropout=0.0, eval_size=16, eval_batch_size=16)
    with Store.open(f"sqlite:///{tmp_path / 'ray.db'}") as store:
        report = validate(ticket_routing_pairs(80), rec, {"smollm2-135m-instruct": smollm2_dir, "tiny-random": tiny_dir},
                          config=config, ladder=(1 / 4, 1 / 2), min_steps=2, store=store, engine="ray",
                          gpus_per_task=1.0)
        runs = store.runs_frame()
    assert report.engine == "ray" and {m.base_model for m in report.models} == {"smollm2-135m-instruct", "tiny-random"}
    rungs = [r for m in report.models for r in m.rungs]
    assert len(rungs) == 2 * 3 and all(r.worker_pid != os.getpid() for r in rungs)  # measured in Ray workers
    assert len(runs) == 6 and set(runs["kind"]) == {"zero-shot", "learning-curve"}
    real = next(m for m in report.models if m.base_model == "smollm2-135m-instruct")
    assert real.rungs[-1].eval_loss < real.rungs[0].eval_loss


def test_asking_ray_for_more_gpus_than_the_cluster_has_is_a_clear_error(tiny_dir, local_ray_with_a_gpu):
    rec = _recommendation(_forecast("a", 0.6, 1))
    with pytest.raises(ValidationError, match="asks for 2 GPU"):
        validate(ticket_routing_pairs(200), rec, {"a": tiny_dir}, config=QLoRAConfig.plain_lora(eval_size=10),
                 ladder=(1 / 4, 1 / 2), engine="ray", gpus_per_task=2.0)


def test_a_ray_address_where_nothing_answers_is_a_clear_error_not_a_wait(tiny_dir):
    pytest.importorskip("ray")
    port = free_port()
    rec = _recommendation(_forecast("a", 0.6, 1))
    with pytest.raises(ValidationError, match=f"cannot connect to Ray: nothing answers at 127.0.0.1:{port}"):
        validate(ticket_routing_pairs(200), rec, {"a": tiny_dir}, config=QLoRAConfig.plain_lora(eval_size=10),
                 ladder=(1 / 4, 1 / 2), engine="ray", ray_address=f"127.0.0.1:{port}")


@pytest.mark.parametrize("name", ["advisor.validation", "advisor.model_sources", "advisor.probes", "advisor.rungs",
                                  "advisor.cli.validate_commands"])
def test_the_docstring_examples_run_and_show_what_they_say(name):
    import doctest
    import importlib

    assert doctest.testmod(importlib.import_module(name)).failed == 0


@pytest.mark.slow
def test_two_real_models_are_validated_side_by_side_where_gemma_is_installed(smollm2_dir, gemma3_dir, tmp_path):
    rec = _recommendation(_forecast("gemma-3-270m", 0.6, 1, 0.3), _forecast("smollm2-135m-instruct", 0.55, 2, 0.3))
    config = QLoRAConfig.plain_lora(per_device_batch_size=4, gradient_accumulation_steps=2, learning_rate=4e-3,
                                    lora_dropout=0.0, eval_size=16, eval_batch_size=16, device="cpu")
    with Store.open(f"sqlite:///{tmp_path / 'two.db'}") as store:
        report = validate(ticket_routing_pairs(80), rec, {"gemma-3-270m": gemma3_dir, "smollm2-135m-instruct": smollm2_dir},
                          config=config, ladder=(1 / 4, 1 / 2), min_steps=4, store=store)
        runs = store.runs_frame()
    assert {m.base_model for m in report.models} == {"gemma-3-270m", "smollm2-135m-instruct"}
    assert sum(m.p_best for m in report.models) == pytest.approx(1.0)
    for model in report.models:
        assert [r.n_train for r in model.rungs] == [0, 16, 32]
        assert model.rungs[-1].eval_loss < model.rungs[0].eval_loss and model.predicted_loss is not None
        assert (model.extrapolated is not None) == model.score_moved  # a score still at zero-shot keeps the prior
    assert runs.groupby("model").size().to_dict() == {"gemma-3-270m": 3, "smollm2-135m-instruct": 3}
