"""Training curves derived from the training file (issue 19, item 6): token accuracy is the share of the
file's labelled turns the model gets right as it learns, loss its negative log, validation the same on
the validation file; so what the curves show depends on what the file teaches and what the model
already knew, not on the step alone."""

from __future__ import annotations

import csv
import io

import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from tests.emulator.support import (
    BASE,
    failure_file,
    fine_tuned_model,
    jsonl,
    success_file,
    upload,
    wait_job,
    wait_processed,
)
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)


def _file(client: OpenAI, data: bytes) -> str:
    file_id = upload(client, data).id
    assert wait_processed(client, file_id).status == "processed"
    return str(file_id)


def _train(
    client: OpenAI, training: str, *, model: str = BASE, validation: str | None = None
) -> FineTuningJob:
    job = client.fine_tuning.jobs.create(
        model=model,
        training_file=training,
        validation_file=validation,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 1}}},
        extra_body={"trainingType": "developerTier"},
    )
    done = wait_job(client, job.id)
    assert done.status == "succeeded"
    return done


def _rows(client: OpenAI, job: FineTuningJob) -> list[dict[str, float | None]]:
    text = client.files.content(job.result_files[0]).read().decode()
    return [
        {name: float(value) if value else None for name, value in row.items()}
        for row in csv.DictReader(io.StringIO(text))
    ]


def _at(row: dict[str, float | None], column: str) -> float:
    """A value the row must have: an empty cell fails the test here, not as a comparison with None."""
    value = row[column]
    assert value is not None, f"{column} is empty"
    return value


def _skill(handle: EmulatorHandle, model: str) -> float:
    return float(next(m["skill"] for m in handle.state()["models"] if m["id"] == model))


@pytest.mark.rule("B7")
def test_accuracy_runs_from_what_the_model_knew_to_what_it_learned(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1()
    good = _file(client, success_file())
    first = _train(client, good)
    rows = _rows(client, first)
    assert len(rows) == 20  # 20 examples, batch 1, one epoch
    before, after = _skill(emulator_reset, BASE), _skill(emulator_reset, fine_tuned_model(first))
    # Every labelled turn of the file is right: accuracy starts at the base skill and ends at the
    # trained one (each within the ±0.02 noise); the loss is -ln(accuracy).
    assert rows[0]["train_mean_token_accuracy"] == pytest.approx(before, abs=0.06)
    assert rows[-1]["train_mean_token_accuracy"] == pytest.approx(after, abs=0.021)
    assert _at(rows[0], "train_loss") > 0.8 > 0.5 > _at(rows[-1], "train_loss")

    # The same file again, from the model that already learned it: high and nearly flat.
    second = _train(client, good, model=fine_tuned_model(first))
    again = _rows(client, second)
    assert again[0]["train_mean_token_accuracy"] == pytest.approx(after, abs=0.03)
    assert (
        _at(again[0], "train_loss") - _at(again[-1], "train_loss")
        < (_at(rows[0], "train_loss") - _at(rows[-1], "train_loss")) / 2
    )


@pytest.mark.rule("B7")
def test_failures_are_learned_on_the_training_file_and_hurt_on_validation(
    emulator_reset: EmulatorHandle,
) -> None:
    client = emulator_reset.openai_v1()
    bad, good = _file(client, failure_file()), _file(client, success_file())
    rows = _rows(client, _train(client, bad, validation=good))
    # The model learns to make the file's mistakes: its training accuracy rises ...
    assert _at(rows[-1], "train_mean_token_accuracy") > _at(rows[0], "train_mean_token_accuracy") + 0.15
    # ... and it gets the (right) validation turns wrong more and more often.
    assert (
        _at(rows[-1], "validation_mean_token_accuracy")
        < _at(rows[0], "validation_mean_token_accuracy") - 0.15
    )
    assert _at(rows[-1], "valid_loss") > _at(rows[0], "valid_loss")
    assert rows[-1]["full_valid_mean_token_accuracy"] is not None


@pytest.mark.rule("B7")
def test_a_file_the_emulator_cannot_judge_gives_a_flat_curve(emulator_reset: EmulatorHandle) -> None:
    chatter = [
        {"messages": [{"role": "user", "content": f"hello {n}"}, {"role": "assistant", "content": "hi"}]}
        for n in range(12)
    ]
    client = emulator_reset.openai_v1()
    rows = _rows(client, _train(client, _file(client, jsonl(chatter))))
    assert {round(row["train_mean_token_accuracy"] or 0, 1) for row in rows} == {0.5}
    assert max(row["train_loss"] or 0 for row in rows) < 0.75
