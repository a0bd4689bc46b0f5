"""Loads the exported model (.npz, see training/modelfile.py) and predicts with numpy alone."""
import hashlib
import json
import threading

import numpy as np


class Model:
    def __init__(self, path):
        self.path = path
        # Only the arrays named here are read; a benchmark's filler array ("pad") is not.
        with np.load(path, allow_pickle=False) as npz:
            self.weights = npz["weights"]
            self.bias = npz["bias"]
            self.classes = npz["classes"]
            self.version = str(npz["version"])
            self.meta = json.loads(str(npz["meta"])) if "meta" in npz.files else {}
        n = self.classes.shape[0]
        if self.weights.ndim != 2 or self.weights.shape[0] != n or self.bias.shape != (n,):
            raise ValueError(f"{path}: weights {self.weights.shape}, bias {self.bias.shape} "
                             f"and classes {self.classes.shape} do not fit together")
        self.n_features = self.weights.shape[1]
        self._sha256 = None
        self._sha256_lock = threading.Lock()

    @property
    def sha256(self):
        """The model file's sha256, hashed on first use (a 500 MB model takes ~0.4 s): the
        service starts, and the smoke test scores, without waiting for it."""
        with self._sha256_lock:
            if self._sha256 is None:
                self._sha256 = file_sha256(self.path)
            return self._sha256

    def predict(self, x):
        """x: float array (n, n_features) -> list of class labels."""
        logits = x @ self.weights.T + self.bias
        return [int(c) for c in self.classes[np.argmax(logits, axis=1)]]


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
