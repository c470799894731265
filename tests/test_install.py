"""The install story: pip keeps an installed torch, the declared minimum Python compiles the package."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _requirements():
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_pip_keeps_the_installed_torch():
    """`pip install -e .` leaves an installed torch alone when the installed version satisfies our range;
    a range admitting a newer torch would make pip pull a CUDA build of several GB."""
    from packaging.requirements import Requirement

    import torch
    reqs = [Requirement(r) for r in _requirements()["dependencies"]]
    [torch_req] = [r for r in reqs if r.name == "torch"]
    installed = torch.__version__.split("+")[0]
    assert torch_req.specifier.contains(installed), (torch_req, installed)
    assert not torch_req.specifier.contains("2.14.0")      # the next release with new CUDA wheels is excluded


def test_declared_minimum_python_compiles_the_package():
    project = _requirements()
    assert project["requires-python"] == ">=3.10"
    candidates = sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python3.10")) + [shutil.which("python3.10")]
    py310 = next((str(c) for c in candidates if c and subprocess.run([str(c), "--version"], capture_output=True)
                  .returncode == 0), None)
    if py310 is None:
        pytest.skip("no working python3.10 here")
    out = subprocess.run([py310, "-m", "compileall", "-q", str(ROOT / "src" / "motiongen")], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any("tomli" in d and "python_version < '3.11'" in d for d in project["dependencies"])


def test_toml_configs_read_without_tomllib(monkeypatch, tmp_path):
    """Python 3.10 has no tomllib: the trainer falls back to the tomli backport."""
    from motiongen.train.trainer import load_train_config
    monkeypatch.setitem(sys.modules, "tomllib", None)            # import tomllib now raises ImportError
    f = tmp_path / "c.toml"
    f.write_text('model = "baseline"\nsteps = 7\n[model_config]\nnum_layers = 1\n')
    cfg = load_train_config(f)
    assert cfg.steps == 7 and cfg.model_config == {"num_layers": 1}
