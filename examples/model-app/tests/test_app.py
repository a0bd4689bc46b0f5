import hashlib
import json

import numpy as np
import pytest

from app.main import MAX_INSTANCES, create_app
from training.modelfile import predict, write_model

from .conftest import N_FEATURES, one_hot


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_version_names_model_and_revision(client, tiny_model):
    body = client.get("/version").get_json()
    assert body["model_sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    assert body["model_version"] == "tiny-1"
    assert body["model_meta"] == {"dataset": "none"}
    assert body["revision"] == "abc123"


def test_model_and_revision_from_environment(tiny_model, monkeypatch):
    monkeypatch.setenv("MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("APP_REVISION", "f00d")
    app = create_app()  # held: Flask 2.2's JSON provider keeps only a weak reference to it
    body = app.test_client().get("/version").get_json()
    assert (body["model_version"], body["revision"]) == ("tiny-1", "f00d")


def test_score_predicts_each_instance(client):
    response = client.post("/score", json={"instances": [one_hot(3), one_hot(7), one_hot(0)]})
    assert response.status_code == 200
    assert response.get_json() == {"predictions": [3, 7, 0]}


def test_score_accepts_integers_and_the_limit(client):
    rows = [[int(v) for v in one_hot(k % 10)] for k in range(MAX_INSTANCES)]
    response = client.post("/score", json={"instances": rows})
    assert response.status_code == 200
    assert response.get_json()["predictions"] == [k % 10 for k in range(MAX_INSTANCES)]


def test_score_equals_reference_prediction(client, tiny_model):
    rows = np.random.default_rng(1).uniform(0, 16, size=(50, N_FEATURES))
    expected = predict(np.load(tiny_model), rows).tolist()
    assert client.post("/score", json={"instances": rows.tolist()}).get_json()["predictions"] == expected


@pytest.mark.parametrize("body, message", [
    (b"not json", "body must be a JSON object"),
    (b"[1, 2]", "body must be a JSON object"),
    (b'{"rows": []}', 'with "instances"'),
    (b'{"instances": "0,1,2"}', '"instances" must be a list of rows, not str'),
    (b'{"instances": []}', '"instances" is empty'),
    (b'{"instances": [5]}', "instances[0] must be a list of 64 numbers, not int"),
    (b'{"instances": [[1, 2, 3]]}', "instances[0] has 3 values, expected 64"),
    (json.dumps({"instances": [one_hot(1), one_hot(2) + [0]]}).encode(), "instances[1] has 65 values"),
    (json.dumps({"instances": [one_hot(1)[:5] + ["x"] + one_hot(1)[6:]]}).encode(), "instances[0][5] is not a finite number: 'x'"),
    (json.dumps({"instances": [[None] * 64]}).encode(), "instances[0][0] is not a finite number: None"),
    (json.dumps({"instances": [[True] * 64]}).encode(), "instances[0][0] is not a finite number: True"),
    (b'{"instances": [[NaN' + b", 0" * 63 + b"]]}", "instances[0][0] is not a finite number: nan"),
    (b'{"instances": [[1' + b"0" * 400 + b", 0" * 63 + b"]]}", "instances[0][0] is not a finite number"),
    (json.dumps({"instances": [one_hot(1)] * (MAX_INSTANCES + 1)}).encode(), "too many instances: 1001, at most 1000"),
])
def test_bad_input_is_400_naming_the_problem(client, body, message):
    response = client.post("/score", data=body, content_type="application/json")
    assert response.status_code == 400
    assert message in response.get_json()["error"]


def test_other_methods_and_paths_answer_json(client):
    assert client.get("/score").status_code == 405
    response = client.get("/nope")
    assert response.status_code == 404 and "error" in response.get_json()


def test_padded_model_predicts_the_same(tmp_path, tiny_model):
    model = np.load(tiny_model)
    padded = tmp_path / "padded.npz"
    write_model(padded, model["weights"], model["bias"], model["classes"], "tiny-1", pad_to=2_000_000)
    assert padded.stat().st_size == 2_000_000
    assert np.load(padded)["pad"].size > 1_900_000
    client = create_app(model_path=str(padded)).test_client()
    assert client.post("/score", json={"instances": [one_hot(4)]}).get_json() == {"predictions": [4]}
    assert client.get("/version").get_json()["model_sha256"] == hashlib.sha256(padded.read_bytes()).hexdigest()


def test_model_file_is_reproducible(tmp_path, tiny_model):
    model = np.load(tiny_model)
    again = tmp_path / "again.npz"
    write_model(again, model["weights"], model["bias"], model["classes"], "tiny-1", {"dataset": "none"})
    assert again.read_bytes() == tiny_model.read_bytes()


def test_missing_model_fails_at_start(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_app(model_path=str(tmp_path / "absent.npz"))
