"""The README is true line by line: its Python blocks run as written, in order; its commands and the reproduce
script parse; the editor phrasings it lists are the ones the editor understands."""
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.DOTALL)


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
