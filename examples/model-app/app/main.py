"""HTTP API of the digit classifier.

POST /score    {"instances": [[64 numbers], ...]} -> {"predictions": [int, ...]}
GET  /version  model sha256 and version, code revision (env APP_REVISION)
GET  /healthz  {"status": "ok"} once the model is loaded

Run: gunicorn 'app.main:create_app()' (model from env MODEL_PATH, default /app/model/model.npz).
"""
import math
import os

import numpy as np
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from app.model import Model

DEFAULT_MODEL_PATH = "/app/model/model.npz"
MAX_INSTANCES = 1000


class BadInput(ValueError):
    pass


def is_number(v):
    # bool is an int in Python, but true/false are not pixel values; NaN, Infinity and
    # integers beyond float range are refused too.
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def parse_instances(body, n_features):
    """The request body as a float array (n, n_features), or BadInput naming what is wrong."""
    if not isinstance(body, dict) or "instances" not in body:
        raise BadInput('body must be a JSON object with "instances": a list of rows')
    rows = body["instances"]
    if not isinstance(rows, list):
        raise BadInput(f'"instances" must be a list of rows, not {type(rows).__name__}')
    if not rows:
        raise BadInput('"instances" is empty')
    if len(rows) > MAX_INSTANCES:
        raise BadInput(f'too many instances: {len(rows)}, at most {MAX_INSTANCES} per request')
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise BadInput(f"instances[{i}] must be a list of {n_features} numbers, not {type(row).__name__}")
        if len(row) != n_features:
            raise BadInput(f"instances[{i}] has {len(row)} values, expected {n_features}")
        for j, v in enumerate(row):
            if not is_number(v):
                raise BadInput(f"instances[{i}][{j}] is not a finite number: {v!r:.40}")
    return np.asarray(rows, dtype=np.float64)


def create_app(model_path=None, revision=None):
    model = Model(model_path or os.environ.get("MODEL_PATH") or DEFAULT_MODEL_PATH)
    revision = revision or os.environ.get("APP_REVISION") or None
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4 << 20  # 1000 rows of 64 numbers fit in well under 2 MiB

    @app.post("/score")
    def score():
        try:
            x = parse_instances(request.get_json(force=True, silent=True), model.n_features)
        except BadInput as error:
            return jsonify(error=str(error)), 400
        return jsonify(predictions=model.predict(x))

    @app.get("/version")
    def version():
        return jsonify(model_sha256=model.sha256, model_version=model.version,
                       model_meta=model.meta, revision=revision)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.errorhandler(HTTPException)
    def http_error(error):  # 404, 405, 413 as JSON too
        return jsonify(error=f"{error.code} {error.name}: {error.description}"), error.code

    return app
