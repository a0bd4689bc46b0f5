"""The model file format, shared by train.py and the tests (numpy only, no scikit-learn).

A model is a numpy .npz archive (an uncompressed zip of .npy arrays):
  weights  float64 (n_classes, 64)   logits = x @ weights.T + bias, x = raw pixels 0..16
  bias     float64 (n_classes,)
  classes  int64   (n_classes,)
  version  str     ()                the version passed to train.py
  meta     str     ()                JSON: how it was trained
  pad      uint8   (n,)              optional random filler (--pad-to), never read by the app

The zip entries carry a fixed timestamp, so the same arrays always give the same bytes
(and sha256); np.load reads the file as it reads any .npz.
"""
import json
import zipfile

import numpy as np

CHUNK = 1 << 24
OVERHEAD = 539


def _entry(zf, name):
    info = zipfile.ZipInfo(name + ".npy")  # date_time is 1980-01-01: reproducible bytes
    info.compress_type = zipfile.ZIP_STORED
    return zf.open(info, "w", force_zip64=True)


def write_model(path, weights, bias, classes, version, meta=None, pad_to=0, seed=0):
    """Writes the model; with pad_to, adds a filler array so the file is about pad_to bytes."""
    arrays = {
        "weights": np.ascontiguousarray(weights, dtype=np.float64),
        "bias": np.ascontiguousarray(bias, dtype=np.float64),
        "classes": np.ascontiguousarray(classes, dtype=np.int64),
        "version": np.array(str(version)),
        "meta": np.array(json.dumps(meta or {}, sort_keys=True)),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays.items():
            with _entry(zf, name) as f:
                np.lib.format.write_array(f, array, allow_pickle=False)
        # What pad adds besides its data: its local header, its .npy header and the
        # central directory at the end (OVERHEAD bytes, measured).
        filler = int(pad_to) - zf.fp.tell() - OVERHEAD
        if filler > 0:
            with _entry(zf, "pad") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "|u1", "fortran_order": False, "shape": (filler,)})
                rng = np.random.default_rng(seed)  # random: as incompressible as real weights
                left = filler
                while left:
                    n = min(CHUNK, left)
                    f.write(rng.bytes(n))
                    left -= n


def predict(model, instances):
    """The reference prediction (the app has its own copy): class per row of instances."""
    x = np.asarray(instances, dtype=np.float64)
    logits = x @ model["weights"].T + model["bias"]
    return model["classes"][np.argmax(logits, axis=1)]
