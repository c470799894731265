"""Fuzz the input boundaries and count outcomes: clean error, traceback, hang, memory blow-up, silent NaN.

    python benchmarks/fuzz.py [--cases 10000] [--targets bvh plan editor model llm studio] [--seed 0] [--timeout 5]

Targets (each case is a random mutation of a valid input, seeded):
  bvh     mutated BVH text (lines dropped, duplicated or swapped, numbers and keywords replaced) -> parse + retarget
  plan    random JSON and mutated valid plans -> Plan.from_dict
  editor  word soup and mutated valid instructions -> OfflineEditor.revise (+ Plan.from_dict of the answer)
  model   mutated config.json of a tiny model folder -> load_model_dir (checked before anything is built)
  llm     random and mutated chat answers -> the LLM client's JSON extraction + plan validation
  cli     random (mostly wrong) command lines of every subcommand against small files -> exit 0 or 2, and the
          user's files beside them (a folder of theirs, a file named like an output) are never lost
  studio  hostile requests to the studio app (foreign Host/Origin, wrong Content-Type and Content-Length, chunked
          and oversized bodies, random and mutated JSON, huge integers, lone surrogates) against a store with damaged
          entries -> never a 500, never a job from a foreign Host or Origin, the history always listed
A 'clean error' is one of the project's own errors (a ValueError subclass naming the file or field, or a
FileNotFoundError; for the CLI, exit status 2 with one line); anything else that escapes is a traceback. Each case
runs under an alarm (hang: 5 s, 30 s for a command line) and an address-space limit of 4 GiB (memory).
'nan' counts cases that returned normally but produced non-finite
numbers. Prints a table; the README quotes it with this command.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

def _good_bvh() -> str:
    """A valid 22-joint BVH of a few frames, as our writer makes it: the starting point of every BVH mutation."""
    from motiongen.motion.bvh import write_bvh
    from motiongen.skeleton import HUMANML3D
    rest = np.zeros((22, 3))
    for j, p in enumerate(HUMANML3D.parents):
        if p >= 0:
            rest[j] = rest[p] + np.asarray(HUMANML3D.raw_offsets[j]) * 0.2
    joints = np.stack([rest + [0.0, 1.0, 0.05 * t] for t in range(3)])
    with tempfile.TemporaryDirectory() as d:
        write_bvh(Path(d) / "g.bvh", joints)
        return (Path(d) / "g.bvh").read_text()


GOOD_BVH = _good_bvh()
WEIRD_NUMBERS = ["nan", "inf", "-inf", "1e308", "-1e308", "1e999", "0", "-0", "1e-320", "99999999999999999999",
                 ".", "-", "1e", "0x10", "", "3.5.1", "NaN", "-1"]
KEYWORDS = ["ROOT", "JOINT", "End Site", "{", "}", "OFFSET", "CHANNELS", "MOTION", "Frames:", "Frame Time:",
            "HIERARCHY", "CHANNELS 3 Xrotation Xrotation Yrotation", "CHANNELS 0", "CHANNELS -5"]


LAST_CASE = ""


class Hang(Exception):
    pass


class LostFile(Exception):
    """A command deleted or replaced a file it did not write (counted as a traceback: it must never happen)."""


def _alarm(signum, frame):
    raise Hang()


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        i = rng.randrange(len(lines)) if lines else 0
        if op == 0 and lines:
            del lines[i]
        elif op == 1 and lines:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2 and lines:
            toks = lines[i].split()
            if toks:
                toks[rng.randrange(len(toks))] = rng.choice(WEIRD_NUMBERS)
                lines[i] = " ".join(toks)
        elif op == 3:
            lines.insert(i, rng.choice(KEYWORDS))
        elif op == 4 and len(lines) > 1:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 5 and lines:
            s = lines[i]
            k = rng.randrange(len(s) + 1)
            lines[i] = s[:k] + chr(rng.randrange(32, 127)) * rng.randint(1, 3) + s[k:]
        else:
            lines = lines[:rng.randrange(len(lines) + 1)]
    return "\n".join(lines)


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 1, 2 ** 70, 1e308, -1e308, 0.5, 40, 1e-9, 10 ** 400, -(10 ** 400), 2 ** 64])
    if kind == 2:
        return rng.choice(["", "walk", "a person waves", "left_arm", "seconds", "x" * rng.randint(0, 3000),
                           "a person \udcff walks", "\ud800", "caf\u00e9 \U0001f600"])
    if kind == 3:
        return [rng.randint(-5, 500), rng.randint(-5, 500)]
    if kind == 4:
        return rng.choice([float("nan"), float("inf")])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["stages", "text", "seconds", "frames", "parts", "left_arm", "pelvis", "version", "torso", "bogus"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


VALID_PLAN = {"stages": [{"text": "a person walks forward", "seconds": 2},
                         {"text": "the person waves", "frames": [40, 100], "parts": {"left_arm": "wave"}}]}


def mutate_json(obj, rng: random.Random):
    if isinstance(obj, dict) and obj and rng.random() < 0.7:
        k = rng.choice(list(obj))
        out = dict(obj)
        out[k] = mutate_json(obj[k], rng) if rng.random() < 0.6 else random_json(rng, 2)
        return out
    if isinstance(obj, list) and obj and rng.random() < 0.7:
        out = list(obj)
        i = rng.randrange(len(out))
        out[i] = mutate_json(out[i], rng)
        return out
    return random_json(rng, 2)


WORDS = ("make the second stage slower faster longer shorter last first 2 3 seconds 1e308 99999999999 stage stages "
         "and then swap move reverse remove add change replace with to 'x' \" , ; raise left right arm leg higher "
         "everything all in for a person jumps the to start end of").split()
INSTRUCTIONS = ["make the second stage slower", "swap stages 1 and 2", "remove the last stage and raise the left arm",
                "slow down the last 1 seconds", "add 'a person bows' at the start", "replace 'walks' with 'runs'"]


def case_bvh(rng: random.Random):
    from motiongen.motion.bvh import parse_bvh
    from motiongen.motion.retarget import resample
    bvh = parse_bvh(mutate_text(GOOD_BVH, rng), "fuzz.bvh")
    pos, _ = bvh.world_positions(include_end_sites=True)          # forward kinematics of what was read
    out = resample(pos, bvh.fps, rng.choice([20.0, 30.0, 1e6, 0.0, float("nan"), 1e-9]))
    return bool(np.isfinite(out).all())


def case_plan(rng: random.Random):
    from motiongen.plan import Plan
    obj = random_json(rng) if rng.random() < 0.5 else mutate_json(VALID_PLAN, rng)
    Plan.from_dict(obj)
    return True


def case_editor(rng: random.Random):
    from motiongen.edit.offline import OfflineEditor
    from motiongen.plan import Plan
    base = Plan.from_dict({"stages": [{"text": "a person walks", "seconds": 2}, {"text": "waves", "seconds": 2},
                                      {"text": "sits", "seconds": 2}]})
    if rng.random() < 0.5:
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 14)))
    else:
        text = mutate_text(rng.choice(INSTRUCTIONS).replace(" ", "\n"), rng).replace("\n", " ")
    Plan.from_dict(OfflineEditor().revise(base, text))
    return True


_MODEL_DIR = None


def case_model(rng: random.Random):
    from motiongen.models.pretrained import load_model_dir
    global _MODEL_DIR
    if _MODEL_DIR is None:
        from motiongen.models.pretrained import save_model_dir
        from motiongen.models.registry import build_denoiser
        _MODEL_DIR = Path(tempfile.mkdtemp(prefix="fuzz-model-"))
        m = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
        save_model_dir(_MODEL_DIR / "good", m, np.zeros(263), np.ones(263),
                       {"text_encoder": {"name": "minilm", "dim": 384}})
    cfg = json.loads((_MODEL_DIR / "good" / "config.json").read_text())
    bad = _MODEL_DIR / "case"
    if bad.exists():
        for f in bad.iterdir():
            f.unlink()
    else:
        bad.mkdir()
    for f in ("model.safetensors", "mean.npy", "std.npy"):
        (bad / f).write_bytes((_MODEL_DIR / "good" / f).read_bytes())
    choice = rng.random()
    if choice < 0.6:
        key = rng.choice(list(cfg["model"]) + ["bogus"])
        cfg["model"][key] = random_json(rng, 3)
    elif choice < 0.8:
        cfg[rng.choice(list(cfg))] = random_json(rng, 2)
    else:
        cfg = random_json(rng)
    text = json.dumps(cfg)
    if rng.random() < 0.1:                     # JSON's forbidden constants and Python's 4300-digit limit
        text = text.replace("16", rng.choice(["Infinity", "NaN", "-Infinity", "9" * 5000]), 1)
    (bad / "config.json").write_text(text)
    r = rng.random()
    if r < 0.2:
        np.save(bad / "std.npy", np.full(263, rng.choice([np.nan, 0.0, -1.0, np.inf]), np.float32))
    elif r < 0.25:
        np.savez(bad / "std.npz", np.ones(263))                 # an .npz under the name std.npy
        os.replace(bad / "std.npz", bad / "std.npy")
    elif r < 0.3:                                                # a header declaring a huge array, or truncated
        good = (bad / "std.npy").read_bytes()
        (bad / "std.npy").write_bytes(rng.choice([good.replace(b"(263,)", b"(10000000000,)"), good[:100],
                                                  good.replace(b"<f4", b"|O "), good[:rng.randrange(len(good))]]))
    den, _, mean, std = load_model_dir(bad)
    return bool(np.isfinite(std).all())


def case_llm(rng: random.Random):
    from motiongen.edit.llm import extract_json
    from motiongen.plan import Plan
    if rng.random() < 0.5:
        text = json.dumps(mutate_json(VALID_PLAN, rng))
    else:
        text = rng.choice(["```json\n", "Sure! ", "", "{", "[", "{\"stages\": "]) + mutate_text(
            json.dumps(VALID_PLAN), rng) + rng.choice(["", "```", "}", "{" * 3000])
    Plan.from_dict(extract_json(text))
    return True


_CLI_DIR = None


def _cli_fixtures() -> Path:
    global _CLI_DIR
    if _CLI_DIR is None:
        from motiongen.models.registry import build_denoiser
        from motiongen.motion.bvh import write_bvh
        from motiongen.motion.features import recover_joints_from_features
        from motiongen.pipeline import MotionPipeline
        from motiongen.text.encoders import load_text_encoder
        d = Path(tempfile.mkdtemp(prefix="fuzz-cli-"))
        den = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
        MotionPipeline(den, load_text_encoder(), np.zeros(263, np.float32), np.ones(263, np.float32), {}
                       ).save_pretrained(d / "model")
        feats = np.zeros((30, 263), np.float32)
        feats[:, 4:67] = np.tile(np.random.default_rng(0).normal(0, 0.3, 63), (30, 1))
        np.save(d / "features.npy", feats)
        j = recover_joints_from_features(feats)
        np.save(d / "joints.npy", j)
        write_bvh(d / "m.bvh", j)
        (d / "plan.json").write_text(json.dumps(VALID_PLAN))
        (d / "text.txt").write_text("a person walks#2\nsomeone waves#1e308\n#\n")
        (d / "dir").mkdir()
        (d / "file").write_text("x")
        users = d / "users"                   # a folder of the user's, with files named like our outputs
        (users / "sub").mkdir(parents=True)
        for name in ("thesis.tex", "plan.json", "meta.json", "motion.npy", "sub/photo.jpg"):
            (users / name).write_text("the user's " + name)
        (d / "mine.npy").write_text("the user's array")
        (d / "corpus.partial").mkdir()
        (d / "corpus.partial" / "keep.txt").write_text("the user's")
        _CLI_DIR = d
    return _CLI_DIR


def case_cli(rng: random.Random):
    """Random command lines (mostly wrong) against small files; exit 0 or 2, never a traceback."""
    from motiongen.cli import main
    d = _cli_fixtures()
    paths = [str(d / n) for n in ("model", "features.npy", "joints.npy", "m.bvh", "plan.json", "text.txt", "dir",
                                  "file", "missing", "missing.bvh", "users", "users/plan.json")] + [".", "", "/"]
    values = WEIRD_NUMBERS + ["a person walks", "2", "0.5", "3", "cpu", "cuda", "ddim", "dpm", "bogus", "-5",
                              "18446744073709551616", "4294967295", "4294967296", "true", "a person \udcff walks",
                              "9" * 5000]
    out = d / f"out{rng.randrange(10 ** 9)}"
    if rng.random() < 0.15:                    # aim at the user's things: a folder, a file, a .partial
        out = rng.choice([d / "users", d / "mine.npy", d / "corpus", d / "file"])
    sub = rng.choice(["generate", "convert", "edit", "train", "evaluate", "models", "data"])
    argv = [sub]
    if sub == "generate":
        argv += [rng.choice(values + ["a person walks forward and waves with the left hand"]), "--out",
                 rng.choice([str(out), str(out), str(d / "file"), str(d / "dir"), "."]), "--model",
                 rng.choice([str(d / "model")] * 4 + paths), "--steps", rng.choice(["2", "1", "0", "-1", "x", "3"]),
                 "--preview", "none", "--quiet"]
        opts = {"--seconds": values, "--seed": values, "--num-samples": ["1", "2", "0", "-1", "x"],
                "--sampler": ["ddim", "dpm", "ddpm", "x"], "--guidance": values, "--prompts": paths,
                "--plan": paths, "--formats": ["bvh,glb,npy", "glb", "fbx", "", "mp4,gif"], "--device": values,
                "--threads": ["1", "0", "-2", "x"], "--batch-size": ["1", "0", "-3"]}
    elif sub == "convert":
        argv += [rng.choice(paths), rng.choice([str(out) + e for e in (".npy", ".bvh", ".glb", ".txt", "")]
                                               + [str(d / "mine.npy"), str(d / "dir") + ".npy", str(d / "dir")])]
        opts = {"--fps": values, "--to": ["joints", "features", "x"], "--units": ["cm", "m", "x"],
                "--up": ["y", "z", "x"], "--rig": ["bandai", "cmu", "x"]}
    elif sub == "edit":
        argv += [rng.choice(values + ["slower", "swap stages 1 and 2"]), "--from", rng.choice(paths), "--out", str(out)]
        opts = {"--backend": ["offline", "openai", "x"], "--llm-url": ["http://127.0.0.1:9/v1", "x", ""],
                "--llm-timeout": values}
    elif sub == "train":
        argv += ["--data", rng.choice(paths), "--out", str(out)]
        opts = {"--steps": values, "--batch-size": values, "--lr": values, "--checkpoint-every": values,
                "--config": paths, "--set": ["num_layers=1", "x", "latent_dim=-1", "num_heads=3"],
                "--model": ["finemogen", "histf", "baseline", "x"], "--max-minutes": values}
    elif sub == "evaluate":
        argv += ["--models", rng.choice(paths), "--data", rng.choice(paths), "--evaluator", rng.choice(paths)]
        opts = {"--replications": values, "--max-items": values}
    elif sub == "models":
        argv += rng.choice([[], ["init", rng.choice(["baseline", "x"]), "--out", str(out)]])
        opts = {"--overwrite": [None], "--seed": values} if len(argv) > 1 else {}
    else:
        action = rng.choice(["stats", "show", "build"])
        argv += [action] + (["--source", rng.choice(paths), "--out", str(out)] if action == "build"
                            else [rng.choice(paths)])
        opts = {}
    if sub in ("generate", "edit"):
        opts["--overwrite"] = [None]
    for k in rng.sample(list(opts), k=min(len(opts), rng.randint(0, 3))):
        v = rng.choice(opts[k])
        argv += [k] if v is None else [k, v]
    import contextlib
    import io
    global LAST_CASE
    LAST_CASE = " ".join(argv)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(argv)
    except SystemExit as e:             # argparse: a usage error is exit 2 with its message
        code = e.code
    if code not in (0, 2):
        raise RuntimeError(f"exit code {code} for {argv}")
    users = d / "users"
    lost = [n for n in ("thesis.tex", "plan.json", "meta.json", "motion.npy", "sub/photo.jpg")
            if not (users / n).is_file() or (users / n).read_text() != "the user's " + n]
    if lost or (d / "mine.npy").read_text() != "the user's array" or not (d / "corpus.partial" / "keep.txt").is_file():
        raise LostFile(f"a user's file was lost or replaced by {' '.join(argv)[:150]}: {lost}")
    for f in out.rglob("*.npy") if out.is_dir() else []:
        if not np.isfinite(np.load(f)).all():
            return False
    if code == 2:
        raise ValueError("clean error")
    return True


_STUDIO = None
HOSTILE_HOSTS = ["evil.example:7860", "127.0.0.1.nip.io:7860", "", "localhost.evil:7860", "127.0.0.1@evil", "[::1",
                 "127.0.0.1:99999999999999999999", "\u00ff", "LOCALHOST:7860"]
HOSTILE_ORIGINS = ["http://evil.example", "null", "http://127.0.0.1:9999", "file://", "http://127.0.0.1:7860/x",
                   "https://localhost:7860", "http://127.0.0.1:7860"]


def _studio():
    """One studio app (worker closed: jobs stay queued, nothing is generated) over a store with damaged entries."""
    global _STUDIO
    if _STUDIO is None:
        from fastapi.testclient import TestClient

        from motiongen.studio.server import Limits, create_app
        d = _cli_fixtures()
        store = Path(tempfile.mkdtemp(prefix="fuzz-studio-"))
        app = create_app([str(d / "model")], store, limits=Limits(max_body_bytes=64 * 1024, queue_size=4))
        app.state.studio.open.clear()
        _STUDIO = TestClient(app, base_url="http://127.0.0.1:7860", raise_server_exceptions=False), \
            app.state.studio, store
        _store_entry(store, "good-000", rng=None)
    return _STUDIO


def _store_entry(store: Path, rid: str, rng: random.Random | None) -> None:
    """A stored result; with ``rng``, one of its files damaged at random."""
    import shutil
    d = store / rid
    if d.exists():
        shutil.rmtree(d)
    sub = d / "sample_000"
    sub.mkdir(parents=True)
    files = {"result.json": json.dumps({"id": rid, "samples": 1, "frames": 10, "text": "walk"}),
             "sample_000/meta.json": json.dumps({"seed": 0, "fps": 20.0}),
             "sample_000/plan.json": json.dumps(VALID_PLAN)}
    np.save(sub / "joints.npy", np.zeros((10, 22, 3), np.float32))
    if rng is not None:
        name = rng.choice(list(files) + ["sample_000/joints.npy"])
        r = rng.random()
        if name.endswith(".npy"):
            (d / name).write_bytes(rng.choice([b"", b"\x93NUMPY", b"\x80\x04K\x01.", b"PK\x03\x04" + b"\x00" * 30]))
        elif r < 0.4:
            files[name] = json.dumps(mutate_json(json.loads(files[name]), rng))
        elif r < 0.7:
            files[name] = files[name][:rng.randrange(len(files[name]))]
        elif r < 0.85:
            files[name] = json.dumps(random_json(rng))
        else:
            files[name] = None
    for name, text in files.items():
        if text is not None:
            (d / name).write_text(text, errors="surrogatepass")


def case_studio(rng: random.Random):
    """One hostile request. Clean error: any 4xx with a JSON {"error"}; traceback: a 500 (or a body that is not
    JSON), a job queued from a foreign Host or Origin, or a history that no longer lists the good result."""
    client, studio, store = _studio()
    global LAST_CASE
    with studio._lock:
        studio.jobs.clear()
    headers = {"Content-Type": "application/json"}
    foreign = False
    r = rng.random()
    if r < 0.15:
        headers["Host"] = rng.choice(HOSTILE_HOSTS)
        foreign = headers["Host"].strip().lower() not in ("localhost:7860",)
    elif r < 0.3:
        headers["Origin"] = rng.choice(HOSTILE_ORIGINS)
        foreign = headers["Origin"] != "http://127.0.0.1:7860"
    elif r < 0.35:
        headers["Content-Type"] = rng.choice(["text/plain", "application/x-www-form-urlencoded", "", "json"])
        foreign = True
    elif r < 0.38:
        headers["Sec-Fetch-Site"] = "cross-site"
        foreign = True
    if rng.random() < 0.05:
        headers["Content-Length"] = rng.choice(["-1", "abc", "99999999999999999999", "1e3", " 10"])
    if rng.random() < 0.2:
        rid = f"case-{rng.randrange(3)}"
        _store_entry(store, rid, rng)
    else:
        rid = rng.choice(["good-000", "case-0", "../etc", "x" * 70, "GOOD", "good-000/..", ""])
    kind = rng.choice(["generate", "generate", "edit", "cancel", "get", "list", "download"])
    body = None
    if kind == "generate":
        base = {"text": "a person walks", "seconds": 2, "seed": 0, "samples": 1, "steps": 2}
        if rng.random() < 0.3:
            base = {"plan": VALID_PLAN, "seed": 0}
        body = mutate_json(base, rng) if rng.random() < 0.7 else random_json(rng)
        url, method = "/api/generate", "POST"
    elif kind == "edit":
        base = {"parent": "good-000", "instruction": "make everything faster", "backend": "offline"}
        if rng.random() < 0.2:
            base[rng.choice(["llm_url", "llm_key"])] = rng.choice(["http://127.0.0.1:9/v1", "file:///etc/passwd"])
        body = mutate_json(base, rng) if rng.random() < 0.6 else base
        url, method = "/api/edit", "POST"
    elif kind == "cancel":
        url, method = f"/api/jobs/{rng.choice(['abc', 'x' * 300, '%00'])}/cancel", "POST"
    elif kind == "get":
        url, method = f"/api/results/{rid}", "GET"
    elif kind == "list":
        url, method = "/api/results", "GET"
    else:
        fmt = rng.choice(["bvh", "joints", "plan", "meta", "exe", "mp4" if rng.random() < 0.02 else "glb"])
        url, method = f"/api/results/{rid}/samples/{rng.choice(['0', '1', '-1', '99999999999999999999'])}/{fmt}", "GET"
    content = None
    if body is not None:
        content = json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        r = rng.random()
        if r < 0.05:
            content = content[:rng.randrange(len(content) + 1)]
        elif r < 0.08:
            content = b'{"text": "walk", "seconds": ' + b"9" * rng.choice([400, 5000]) + b"}"
        elif r < 0.1:
            content = b"x" * rng.choice([65 * 1024, 200 * 1024])         # over the limit
        elif r < 0.12:
            content = iter([b'{"text": "walk", '] + [b" " * 8192] * rng.choice([2, 20]) + [b'"seconds": 2}'])
    LAST_CASE = f"{method} {url} {headers} {str(content)[:120]}"
    resp = client.request(method, url, headers={k: v.encode("latin-1") for k, v in headers.items()},
                          content=content)
    if resp.status_code >= 500:
        raise RuntimeError(f"{resp.status_code} for {LAST_CASE[:200]}: {resp.text[:100]}")
    if foreign and studio.jobs:
        raise RuntimeError(f"a job was queued by a foreign request: {LAST_CASE[:200]}")
    listing = client.get("/api/results")
    if listing.status_code != 200 or "good-000" not in [x["id"] for x in listing.json()["results"]]:
        raise RuntimeError(f"the history is broken after {LAST_CASE[:200]}")
    if resp.status_code >= 400:
        try:
            resp.json()["error"]
        except (ValueError, KeyError, TypeError):
            if url.startswith("/api/"):
                raise RuntimeError(f"{resp.status_code} without a JSON error for {LAST_CASE[:200]}") from None
        raise ValueError("clean error")
    return True


TARGETS = {"bvh": case_bvh, "plan": case_plan, "editor": case_editor, "model": case_model, "llm": case_llm,
           "cli": case_cli, "studio": case_studio}


def clean_error(e: BaseException) -> bool:
    return isinstance(e, (ValueError, FileNotFoundError, FileExistsError)) and not isinstance(e, UnicodeError)


def _warm_up() -> None:
    """Import everything once, outside the alarm (a first torch import can take longer than a case may)."""
    import motiongen.edit.llm  # noqa: F401
    import motiongen.edit.offline  # noqa: F401
    import motiongen.models.pretrained  # noqa: F401
    import motiongen.models.registry as reg
    import motiongen.motion.bvh  # noqa: F401
    import motiongen.motion.retarget  # noqa: F401
    import motiongen.plan  # noqa: F401
    reg.ensure_builtin_models()
    try:
        case_model(random.Random(0)) if _MODEL_DIR is None else None     # makes the model folders
    except Exception:  # noqa: BLE001 - this case may fail cleanly; the folders are made before it loads
        pass
    import motiongen.cli  # noqa: F401
    import motiongen.pipeline  # noqa: F401
    _cli_fixtures()                       # loads the text encoder once
    _studio()


def run(target: str, cases: int, seed: int = 0, timeout: float = 5.0) -> collections.Counter:
    fn = TARGETS[target]
    try:
        _warm_up()
    except Exception:  # noqa: BLE001 - the warm-up case may fail cleanly; only the imports matter
        pass
    counts: collections.Counter = collections.Counter()
    signal.signal(signal.SIGALRM, _alarm)
    for k in range(cases):
        rng = random.Random(f"{seed}-{target}-{k}")
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            ok = fn(rng)
            counts["ok" if ok else "nan"] += 1
        except Hang:
            counts["hang"] += 1
            counts.setdefault("first hangs", [])
            if len(counts["first hangs"]) < 3 and LAST_CASE:
                counts["first hangs"].append(LAST_CASE[:200])
        except MemoryError:
            counts["memory"] += 1
        except Exception as e:          # noqa: BLE001 - classifying is the point
            if clean_error(e):
                counts["clean error"] += 1
            else:
                counts["traceback"] += 1
                counts.setdefault("first tracebacks", [])
                if len(counts["first tracebacks"]) < 3:
                    counts["first tracebacks"].append(f"{type(e).__name__}: {str(e)[:120]}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--targets", nargs="*", default=list(TARGETS), choices=list(TARGETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args(argv)
    limit = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"command: python benchmarks/fuzz.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("| target | cases | ok | clean error | traceback | hang | memory | silent NaN | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    bad = 0
    for t in args.targets:
        t0 = time.perf_counter()
        # a command line may legitimately build full-size models (motiongen models): a longer alarm there
        c = run(t, args.cases, args.seed, max(args.timeout, 30.0) if t == "cli" else args.timeout)
        bad += c["traceback"] + c["hang"] + c["memory"] + c["nan"]
        print(f"| {t} | {args.cases} | {c['ok']} | {c['clean error']} | {c['traceback']} | {c['hang']} | "
              f"{c['memory']} | {c['nan']} | {time.perf_counter() - t0:.0f} |")
        for line in c.get("first hangs", []):
            print(f"    {t} hang: {line}")
        for line in c.get("first tracebacks", []):
            print(f"    {t}: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
