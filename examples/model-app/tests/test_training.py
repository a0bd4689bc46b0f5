"""End to end with the real training script: needs scikit-learn (skipped without it)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.main import create_app

ROOT = Path(__file__).resolve().parent.parent

pytest.importorskip("sklearn")


def train(tmp_path, name, *options):
    model, expect = tmp_path / f"{name}.npz", tmp_path / f"{name}.json"
    subprocess.run([sys.executable, str(ROOT / "training" / "train.py"), "--out", str(model),
                    "--expect", str(expect), *options], check=True)
    return model, json.loads(expect.read_text())


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(tmp_path_factory.mktemp("train"), "model", "--version", "2024-06-01")


def test_served_answer_equals_training_prediction(trained):
    model, expect = trained
    client = create_app(model_path=str(model)).test_client()
    assert client.post("/score", json={"instances": expect["instances"]}).get_json() == {
        "predictions": expect["expected"]}
    version = client.get("/version").get_json()
    assert version["model_sha256"] == expect["model_sha256"]
    assert version["model_version"] == "2024-06-01"
    assert version["model_meta"]["test_accuracy"] > 0.9


def test_committed_smoke_sample_matches_training(trained):
    _, expect = trained
    committed = json.loads((ROOT / "app" / "smoke_sample.json").read_text())
    assert committed["instances"] == expect["instances"]
    assert committed["expected"] == expect["expected"] == [expect["label"]]


def test_retraining_changes_the_file_not_the_answer(tmp_path, trained):
    _, expect = trained
    _, expect2 = train(tmp_path, "retrained", "--version", "2024-06-01", "--seed", "7")
    assert expect2["model_sha256"] != expect["model_sha256"]
    assert expect2["expected"] == expect["expected"]
