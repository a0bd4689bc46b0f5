"""Fixtures: a tiny hand-made model (numpy only), so the tests need neither scikit-learn
nor the real model, which the pipeline pulls only after the test step."""
import numpy as np
import pytest

from app.main import create_app
from training.modelfile import write_model

N_FEATURES = 64


@pytest.fixture
def tiny_model(tmp_path):
    """Class k (k = 0..9) scores pixel k: the prediction is the argmax of the first ten pixels."""
    weights = np.zeros((10, N_FEATURES))
    weights[np.arange(10), np.arange(10)] = 1.0
    path = tmp_path / "model.npz"
    write_model(path, weights, np.zeros(10), np.arange(10), "tiny-1", {"dataset": "none"})
    return path


@pytest.fixture
def client(tiny_model):
    return create_app(model_path=str(tiny_model), revision="abc123").test_client()


def one_hot(k, value=5.0):
    row = [0.0] * N_FEATURES
    row[k] = value
    return row
