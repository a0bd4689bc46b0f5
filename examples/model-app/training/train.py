#!/usr/bin/env python3
"""Trains the digit classifier and exports it for the serving image (which needs only numpy).

Multinomial logistic regression (scikit-learn, solver saga) on scikit-learn's bundled
8x8 digits data set (1797 images, no download). A fixed quarter of the data is held out
for testing; --seed drives saga's shuffling, so another seed (or another --C) gives a
retrained model with other weights and another sha256.

Writes the model (--out) and a known sample with the class this model predicts for it:
as JSON to --expect, or to stdout. app/smoke_sample.json is such a file; the image's
smoke test posts its instances and checks the answer equals "expected".

    python3 training/train.py --out model/model.npz --version 2024-06-01 --expect app/smoke_sample.json
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from modelfile import predict, write_model  # noqa: E402

SPLIT_SEED = 0  # the test set is the same whatever --seed says, so the known sample is too


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="model/model.npz", help="model file to write (.npz)")
    parser.add_argument("--version", default="dev", help="version string stored in the model")
    parser.add_argument("--seed", type=int, default=0, help="saga's shuffling (and the filler's bytes)")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--pad-to", type=int, default=0, metavar="BYTES",
                        help="pad the file to about BYTES with a filler array (benchmarks)")
    parser.add_argument("--expect", metavar="PATH", help="write the known sample and its class here")
    args = parser.parse_args()

    started = time.monotonic()
    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=SPLIT_SEED, stratify=digits.target)
    # Pixels are 0..16: train on x/16 (saga converges faster), fold the 1/16 into the weights.
    clf = LogisticRegression(C=args.C, solver="saga", max_iter=2000, tol=1e-4, random_state=args.seed)
    clf.fit(x_train / 16.0, y_train)

    model = {"weights": clf.coef_ / 16.0, "bias": clf.intercept_, "classes": clf.classes_}
    accuracy = float(np.mean(predict(model, x_test) == y_test))
    meta = {
        "algorithm": "multinomial logistic regression (saga)",
        "dataset": "sklearn.datasets.load_digits",
        "C": args.C, "seed": args.seed, "test_accuracy": round(accuracy, 4),
        "sklearn": sklearn.__version__, "n_features": int(x_train.shape[1]),
    }
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    write_model(args.out, model["weights"], model["bias"], model["classes"], args.version, meta,
                pad_to=args.pad_to, seed=args.seed)

    with open(args.out, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
            else hashlib.sha256(f.read()).hexdigest()
    sample = x_test[0]
    expect = {
        "instances": [[int(v) for v in sample]],  # pixels are 0..16
        "expected": [int(predict(model, [sample])[0])],
        "label": int(y_test[0]),
        "model_version": args.version,
        "model_sha256": digest,
    }
    text = json.dumps(expect) + "\n"
    if args.expect:
        with open(args.expect, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    print(f"trained in {time.monotonic() - started:.1f}s: test accuracy {accuracy:.4f}, "
          f"{os.path.getsize(args.out)} bytes, sha256 {digest}, sample 0 -> {expect['expected'][0]} "
          f"(label {expect['label']})", file=sys.stderr)


if __name__ == "__main__":
    main()
