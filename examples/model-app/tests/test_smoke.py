"""app/smoke.py against a real gunicorn (skipped where gunicorn is not installed)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import one_hot

pytest.importorskip("gunicorn")
SMOKE = Path(__file__).resolve().parent.parent / "app" / "smoke.py"


def run_smoke(tiny_model, tmp_path, *options):
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"instances": [one_hot(6)], "expected": [6]}))
    env = {"MODEL_PATH": str(tiny_model), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(SMOKE), "--sample", str(sample), *options],
                          env=env, capture_output=True, text=True, timeout=60)


def test_smoke_passes_on_the_right_answer(tiny_model, tmp_path):
    result = run_smoke(tiny_model, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke ok" in result.stdout


def test_smoke_fails_on_a_wrong_answer(tiny_model, tmp_path):
    result = run_smoke(tiny_model, tmp_path, "--expect", "5")
    assert result.returncode == 1
    assert "smoke FAILED: predicted [6], expected [5]" in result.stdout


def test_smoke_fails_when_the_service_does_not_start(tmp_path):
    result = run_smoke(tmp_path / "absent.npz", tmp_path, "--timeout", "20")
    assert result.returncode == 1
    assert "smoke FAILED: gunicorn exited" in result.stdout
