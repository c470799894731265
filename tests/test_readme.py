"""The README is true line by line: its Python blocks run as written, in order; its shell blocks run as written
(``run_shell_blocks``), in order, in one scratch folder; its commands and the reproduce script parse; the editor
phrasings it lists are the ones the editor understands.

Shell blocks: every fenced ```bash block runs, line by line, with ``bash -e`` in a temporary folder that holds a
copy of ``examples/`` (also at its top level, so ``clip.bvh`` and ``examples/clip.bvh`` both work), links to
``benchmarks/``, ``scripts/`` and ``configs/``, and ``../shared`` beside it as beside the checkout; ``motiongen`` there is this checkout's CLI (``python -m
motiongen.cli`` with ``src`` first on the path). Not run: a block whose info string says so (```bash slow``` for
anything over a minute, ```bash norun``` for what must not run in a test), a line ending in ``# slow`` or
``# norun``, and lines that install or serve (``pip``, ``apt-get``, ``npm``, ``sudo``, ``nohup``, ``torchrun``,
``motiongen serve``, ``pytest``, a trailing ``&``) — those are listed in the skip report, never run.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}(?:[ \t][^\n]*)?\n(.*?)```", README, re.DOTALL)


NEVER_RUN = re.compile(r"^(?:pip3?|python3? -m pip|apt-get|apt|sudo|npm|nohup|torchrun)\b|^motiongen serve\b|"
                       r"\bpytest\b|&\s*$")


def shell_blocks(markdown: str) -> list[tuple[str, list[str], list[str]]]:
    """(info string, lines to run, lines not run) of each ```bash block; a slow/norun block runs nothing."""
    out = []
    for info, body in re.findall(r"```bash([^\n]*)\n(.*?)```", markdown, re.DOTALL):
        info = info.strip()
        run, skipped = [], []
        for line in body.replace("\\\n", " ").splitlines():
            cmd = line.strip()
            if not cmd or cmd.startswith("#"):
                continue
            if info in ("slow", "norun") or re.search(r"#\s*(?:slow|norun)\b[^#]*$", cmd) or NEVER_RUN.search(cmd):
                skipped.append(cmd)
            else:
                run.append(cmd)
        out.append((info, run, skipped))
    return out


def run_shell_blocks(markdown: str, workdir: Path, timeout_per_line: float = 120.0) -> list[str]:
    """Run the README's runnable shell lines in order in ``workdir`` (see the module docstring); returns what ran.
    A failing line fails with its output."""
    bin_dir = workdir / ".bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "motiongen").write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m motiongen.cli \"$@\"\n")
    (bin_dir / "motiongen").chmod(0o755)
    for name in ("python", "python3"):
        (bin_dir / name).write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} \"$@\"\n")
        (bin_dir / name).chmod(0o755)
    examples = ROOT / "examples"
    if examples.is_dir():
        shutil.copytree(examples, workdir / "examples", dirs_exist_ok=True)
        for f in examples.iterdir():
            if f.is_file():
                shutil.copy(f, workdir / f.name)
    for name in ("benchmarks", "scripts", "configs"):
        if not (workdir / name).exists():
            (workdir / name).symlink_to(ROOT / name)
    shared = ROOT.parent / "shared"               # the README's ../shared/data, as beside the checkout
    if shared.is_dir() and not (workdir.parent / "shared").exists():
        (workdir.parent / "shared").symlink_to(shared)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env.pop("MOTIONGEN_MODEL", None)
    ran = []
    for _, lines, _ in shell_blocks(markdown):
        for cmd in lines:
            res = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", cmd], cwd=workdir, env=env,
                                 capture_output=True, text=True, timeout=timeout_per_line)
            if res.returncode != 0:
                raise AssertionError(f"README command failed (exit {res.returncode}): {cmd}\n"
                                     f"{res.stdout[-1500:]}\n{res.stderr[-1500:]}")
            ran.append(cmd)
    return ran


def test_python_blocks_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                   # they write out/...: keep it out of the repository
    blocks = _blocks("python")
    assert blocks
    namespace: dict = {}
    for k, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {k + 1}", "exec"), namespace)


def _commands(text: str) -> list[list[str]]:
    out = []
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#")[0].strip() if not line.strip().startswith("motiongen generate \"") else line.strip()
        if "motiongen " in line:
            cmd = line[line.index("motiongen "):]
            cmd = cmd.split("&&")[0].split("||")[0].strip().rstrip("&").strip()
            cmd = cmd.replace('"$WORK', '"runs').replace('"$SHARED', '"../shared').replace('"$THREADS"', '1')
            out.append(shlex.split(cmd)[1:])
    return out


def test_readme_and_script_commands_parse():
    from motiongen.cli import build_parser
    parser = build_parser()
    script = (ROOT / "scripts" / "reproduce_cpu_results.sh").read_text()
    commands = _commands("\n".join(_blocks("bash"))) + _commands(script)
    assert len(commands) >= 8
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as e:
            pytest.fail(f"does not parse: motiongen {' '.join(argv)} ({e})")


def test_reproduce_script_uses_configs_that_load():
    from motiongen.train.trainer import load_train_config
    script = (ROOT / "scripts" / "reproduce_cpu_results.sh").read_text()
    configs = re.findall(r"--config (\S+)", script)
    assert len(configs) == 3
    for c in configs:
        cfg = load_train_config(ROOT / c)
        assert cfg.model in ("finemogen", "histf", "baseline")
    assert all("--max-minutes 25" in line for line in script.splitlines() if " train --config" in line)


def test_every_editor_phrasing_is_listed():
    from motiongen.edit.offline import PHRASINGS
    for p in PHRASINGS:
        assert f"`{p}`" in README, p


def test_shell_block_runner_runs_fast_lines_and_skips_the_marked(tmp_path):
    """The runner on a small README of the documented form: example inputs are there, ``motiongen`` is this
    checkout's, slow/norun blocks and lines and installers are skipped, and a failing line fails the test."""
    md = """
```bash
pip install -e .
motiongen convert clip.bvh clip_joints.npy --to joints
test -s examples/path.csv && head -1 path.csv | grep -qx 't,x,z'
python -c "import motiongen, sys; assert motiongen.__file__.startswith(sys.argv[1])" """ + str(ROOT / "src") + """
motiongen data build --source ../shared/data/bvh --out corpus   # slow
```

```bash slow
motiongen train --model histf --data corpus --out runs/x
```
"""
    blocks = shell_blocks(md)
    assert [len(b[1]) for b in blocks] == [3, 0] and blocks[0][2][0] == "pip install -e ."
    ran = run_shell_blocks(md, tmp_path)
    assert len(ran) == 3 and (tmp_path / "clip_joints.npy").is_file()
    with pytest.raises(AssertionError, match="README command failed"):
        run_shell_blocks("```bash\nmotiongen generate '' --out x\n```\n", tmp_path / "again")


def test_readme_shell_commands_run_as_written(tmp_path):
    """Every runnable ```bash line of README.md, in order (see the module docstring for what is skipped)."""
    ran = run_shell_blocks(README, tmp_path / "work")
    assert ran, "the README has no runnable shell command"
