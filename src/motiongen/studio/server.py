"""motiongen studio: a local FastAPI server and one web page to generate, plan, edit, watch and download motion.

    motiongen serve [--host 127.0.0.1] [--port 7860] [--model DIR|NAME ...] [--store DIR] [--device cpu|cuda]

The JSON API is documented by its OpenAPI page (``/docs``). Generation and editing run on one worker thread fed
by a bounded queue: a request gets a job id at once (202), the job reports its denoising step, a queued or running
job can be cancelled, and a full queue answers 429. Results are written atomically into the store folder
(``<store>/<id>/result.json`` + ``sample_NNN/`` with the usual files) and are listed again after a restart.
"""
from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import MAX_SEED

__all__ = ["create_app", "Studio", "Limits"]

STATIC = Path(__file__).resolve().parent / "static"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DOWNLOADS = {"bvh": ("motion.bvh", "application/octet-stream"), "joints": ("joints.npy", "application/octet-stream"),
             "features": ("motion.npy", "application/octet-stream"), "glb": ("motion.glb", "model/gltf-binary"),
             "mp4": ("preview.mp4", "video/mp4"), "plan": ("plan.json", "application/json"),
             "meta": ("meta.json", "application/json")}


@dataclass
class Limits:
    max_body_bytes: int = 256 * 1024
    max_text: int = 1000
    max_samples: int = 4
    queue_size: int = 8
    max_steps: int = 1000
    max_character_bytes: int = 64 * 1024 * 1024      # an uploaded rig (a GLB with its meshes and textures)


class Cancelled(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


# ---- request bodies --------------------------------------------------------------------------------------------

# fields a request may not set: the LLM server and its key are the operator's (motiongen serve --llm-url/--llm-key)
OPERATOR_FIELDS = {"llm_url": "the LLM server is the operator's setting (motiongen serve --llm-url); a request "
                              "cannot choose it",
                   "llm_key": "the LLM server's key is the operator's setting (motiongen serve --llm-key or "
                              "$OPENAI_API_KEY); a request cannot send one"}


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="a sentence (or give a plan)")
    plan: dict[str, Any] | None = Field(None, description="a fine-grained plan, the JSON the CLI reads")
    seconds: float = Field(4.0, description="duration for a sentence", allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=MAX_SEED, strict=True)
    samples: int = Field(1, ge=1, strict=True)
    sampler: Literal["ddpm", "ddim", "dpm"] | None = None
    steps: int | None = Field(None, ge=1, strict=True)
    guidance: float | None = Field(None, ge=0.0, le=100.0)
    model: str | None = Field(None, max_length=200)


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent: str = Field(..., description="the id of an earlier result", max_length=200)
    sample: int = Field(0, ge=0, le=1000, strict=True, description="which sample of the parent to edit")
    instruction: str
    backend: Literal["offline", "openai"] = "offline"
    llm_model: str | None = Field(None, max_length=200, description="the model name sent to the operator's LLM "
                                                                   "server (the server itself is not a request field)")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, strict=True)


# ---- jobs ------------------------------------------------------------------------------------------------------

@dataclass
class Job:
    id: str
    kind: str
    request: dict
    status: str = "queued"            # queued | running | done | failed | cancelled
    step: int = 0
    total: int = 0
    result: str | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "step": self.step, "total": self.total,
                "result": self.result, "error": self.error}


class Studio:
    """The server's state: models (loaded on first use), the store, the job queue and its worker."""

    def __init__(self, models: list[str] | None = None, store: str | Path = "studio_results", device: str = "cpu",
                 limits: Limits | None = None, llm_url: str | None = None, llm_model: str | None = None,
                 llm_key: str | None = None):
        from ..pipeline import resolve_model_dir
        self.limits = limits or Limits()
        self.device = device
        self.store = Path(store)
        if self.store.exists() and not self.store.is_dir():
            raise ValueError(f"--store '{store}' is a file; the studio keeps its results in a folder")
        self.store.mkdir(parents=True, exist_ok=True)
        # the LLM server for backend "openai": the operator's, fixed at start-up; None = the openai backend is off
        self.llm_url = llm_url
        if llm_url:
            from ..edit.llm import check_llm_url
            check_llm_url(llm_url)
        self.llm_model, self.llm_key = llm_model, llm_key or ""
        self._render_locks: dict[Path, threading.Lock] = {}
        names = models or ["default"]
        self.models: dict[str, Path] = {}
        for n in names:
            path = resolve_model_dir(None if n == "default" else n)
            self.models["default" if n == "default" else Path(n).name] = path
        self.default_model = next(iter(self.models))
        self._pipes: dict[str, Any] = {}
        self._lock = threading.Lock()                 # jobs
        self._model_lock = threading.Lock()           # loading models
        self.jobs: dict[str, Job] = {}
        self.queue: queue.Queue[Job] = queue.Queue()    # bounded by submit(): at most queue_size jobs waiting
        self.open = threading.Event()        # the worker takes jobs while set (tests close it to fill the queue)
        self.open.set()
        self._worker = threading.Thread(target=self._run, name="motiongen-studio-worker", daemon=True)
        self._worker.start()

    # models
    def pipeline(self, name: str | None):
        from ..pipeline import MotionPipeline
        name = name or self.default_model
        if name not in self.models:
            raise ApiError(400, f"model: unknown model '{name}'; this server has {', '.join(self.models)}", "model")
        with self._model_lock:
            if name not in self._pipes:
                self._pipes[name] = MotionPipeline.from_pretrained(self.models[name], device=self.device)
            return self._pipes[name]

    def model_info(self) -> list[dict]:
        out = []
        for name, path in self.models.items():
            cfg = json.loads((path / "config.json").read_text())
            mc = cfg.get("model", {})
            out.append({"name": name, "type": cfg.get("model_type"), "max_seconds": mc.get("max_frames", 196) / 20.0,
                        "sampling": cfg.get("sampling", {}), "reads_plans": cfg.get("model_type") == "finemogen"})
        return out

    # jobs
    def submit(self, kind: str, request: dict) -> Job:
        job = Job(uuid.uuid4().hex[:12], kind, request)
        with self._lock:
            waiting = sum(j.status == "queued" for j in self.jobs.values())
            if waiting >= self.limits.queue_size:
                raise ApiError(429, f"the queue is full ({self.limits.queue_size} jobs waiting); try again shortly")
            self.jobs[job.id] = job
            self._forget_old_jobs()
        self.queue.put(job)
        return job

    def cancel(self, job: Job) -> None:
        """A queued job is cancelled at once; a running one stops at its next denoising step."""
        with self._lock:
            if job.status in ("queued", "running"):
                job.cancel.set()
                if job.status == "queued":
                    job.status = "cancelled"

    def _forget_old_jobs(self, keep: int = 1000) -> None:
        done = [j for j in self.jobs.values() if j.status not in ("queued", "running")]
        for j in sorted(done, key=lambda j: j.created)[:max(0, len(self.jobs) - keep)]:
            del self.jobs[j.id]

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            self.open.wait()
            with self._lock:
                if job.cancel.is_set():
                    job.status = "cancelled"
                    continue
                job.status = "running"
            try:
                job.result = self._generate(job) if job.kind == "generate" else self._edit(job)
                job.status = "done"
            except Cancelled:
                job.status = "cancelled"
            except ApiError as e:
                job.status, job.error = "failed", e.message
            except Exception as e:  # noqa: BLE001 - a job's failure is reported on the job, never a 500
                job.status, job.error = "failed", f"{type(e).__name__}: {str(e)[:500]}"

    def _callback(self, job: Job):
        def cb(k: int, n: int) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            job.step, job.total = k, n
        return cb

    def _generate(self, job: Job) -> str:
        from ..plan import Plan
        r = job.request
        pipe = self.pipeline(r.get("model"))
        prompt = Plan.from_dict(r["plan"]) if r.get("plan") is not None else r["text"]
        motions = pipe.generate(prompt, r.get("seconds", 4.0), num_samples=r.get("samples", 1), seed=r.get("seed", 0),
                                sampler=r.get("sampler"), steps=r.get("steps"), guidance_scale=r.get("guidance"),
                                callback=self._callback(job))
        unknown = motions[0].meta.get("unknown_action")       # the model has not learned this: say so
        return self._save(motions, {"text": motions[0].text, "plan": motions[0].plan, "seed": r.get("seed", 0),
                                    "model": r.get("model") or self.default_model, "parent": None,
                                    **({"warning": unknown["message"]} if unknown else {})})

    def _edit(self, job: Job) -> str:
        from ..edit.editor import edit, make_backend
        r = job.request
        parent = self.result_dir(r["parent"])
        meta = self.read_record(parent)
        sample = parent / f"sample_{r.get('sample', 0):03d}"
        if not sample.is_dir():
            raise ApiError(400, f"sample: result {r['parent']} has {meta.get('samples', 1)} sample(s)", "sample")
        kw = {}
        if r.get("backend") == "openai":
            if not self.llm_url:
                raise ApiError(422, "backend: this server has no LLM server (start it with motiongen serve "
                                    "--llm-url URL)", "backend")
            # the operator's server and key, never a request's: the key goes only where the operator said
            kw = {"base_url": self.llm_url, "model": r.get("llm_model") or self.llm_model, "api_key": self.llm_key}
        backend = make_backend(r.get("backend", "offline"), **kw)
        model_name = meta.get("model") if isinstance(meta.get("model"), str) else self.default_model
        res = edit(sample, r["instruction"], backend=backend, model=str(self.models.get(model_name,
                                                                                         self.models[self.default_model])),
                   seed=r.get("seed"), device=self.device, callback=self._callback(job))
        return self._save(res.motions, {"text": res.motions[0].text, "plan": res.plan.to_dict(),
                                        "seed": res.motions[0].seed, "model": model_name, "parent": r["parent"],
                                        "parent_sample": r.get("sample", 0), "instruction": r["instruction"],
                                        "plan_diff": res.diff})

    def _save(self, motions, info: dict) -> str:
        from ..export import write_motion_files
        from ..io_utils import atomic_directory
        rid = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]

        def fill(tmp: Path) -> None:
            for k, m in enumerate(motions):
                sub = tmp / f"sample_{k:03d}"
                sub.mkdir()
                write_motion_files(sub, m, preview="none", bvh=True, glb=True)
            (tmp / "result.json").write_text(json.dumps({"id": rid, "created": time.time(), "samples": len(motions),
                                                         "frames": motions[0].num_frames, **info}, indent=2) + "\n")
        atomic_directory(self.store / rid, fill)
        return rid

    # results
    def result_dir(self, rid: str) -> Path:
        if not isinstance(rid, str) or not ID_RE.match(rid):
            raise ApiError(400, "id: expected letters, digits and dashes (a result id)", "id")
        d = self.store / rid
        if not (d / "result.json").is_file():
            raise ApiError(404, f"no result '{rid}'", "id")
        return d

    def read_record(self, d: Path) -> dict:
        """A result's result.json, checked: a JSON object of at most 1 MiB with a whole number of samples that are
        all there. A damaged record is an ApiError (404 naming what is wrong), never a 500."""
        f = d / "result.json"
        try:
            info = _read_json(f)
        except (OSError, ValueError, RecursionError) as e:
            raise ApiError(404, f"result '{d.name}' is damaged: result.json is not readable JSON "
                                f"({str(e)[:80]})", "id") from None
        if not isinstance(info, dict):
            raise ApiError(404, f"result '{d.name}' is damaged: result.json is not a JSON object", "id")
        n = info.get("samples", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise ApiError(404, f"result '{d.name}' is damaged: result.json's 'samples' is not a count", "id")
        return info

    def read_sample(self, d: Path, k: int) -> dict:
        """One sample for the viewer: its joints (T, J, 3), seed, fps and plan, each checked."""
        sub = d / f"sample_{k:03d}"
        where = f"result '{d.name}' is damaged: sample_{k:03d}"
        try:
            joints = _load_joints(sub / "joints.npy")
            meta = _read_json(sub / "meta.json")
            plan = _read_json(sub / "plan.json")
        except (OSError, ValueError, RecursionError) as e:
            raise ApiError(404, f"{where}: {str(e)[:120]}", "id") from None
        if not isinstance(meta, dict) or not isinstance(plan, dict):
            raise ApiError(404, f"{where}: meta.json and plan.json must be JSON objects", "id")
        fps = meta.get("fps", 20.0)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
            fps = 20.0
        seed = meta.get("seed") if isinstance(meta.get("seed"), int) else None
        return {"seed": seed, "fps": fps, "joints": np.round(joints.astype(np.float64), 4).tolist(), "plan": plan}

    def list_results(self) -> tuple[list[dict], list[str]]:
        """(the readable results, newest first; the ids of damaged ones, which are skipped)."""
        out, damaged = [], []
        for d in sorted(self.store.iterdir(), reverse=True):
            if d.is_dir() and not d.is_symlink() and ID_RE.match(d.name) and (d / "result.json").is_file():
                try:
                    info = self.read_record(d)
                except ApiError:
                    damaged.append(d.name)
                    continue
                row = {k: info.get(k) for k in ("id", "text", "created", "samples", "frames", "parent",
                                                 "instruction", "model", "seed")}
                out.append({k: (v if isinstance(v, (str, int, float, type(None))) and not isinstance(v, bool)
                                else None) for k, v in row.items()})
        return out, damaged

    def _made_once(self, path: Path, rid: str, sample: int, make) -> None:
        """Make ``path`` from its sample's joints unless it exists: once however many requests ask at the same
        time (a lock per file), written atomically; a damaged joints.npy is a 404 naming the result."""
        if path.is_file():
            return
        with self._model_lock:
            lock = self._render_locks.setdefault(path, threading.Lock())
        with lock:                         # concurrent first requests wait for the one that makes it
            if path.is_file():
                return
            from ..io_utils import atomic_write
            try:
                joints = _load_joints(path.parent / "joints.npy")
            except (OSError, ValueError) as e:
                raise ApiError(404, f"result '{rid}' is damaged: sample_{sample:03d}: {str(e)[:120]}", "id") from None
            atomic_write(path, lambda p: make(joints, p), suffix=path.suffix)

    def download(self, rid: str, sample: int, fmt: str) -> Path:
        if fmt not in DOWNLOADS:
            raise ApiError(400, f"format: expected one of {', '.join(DOWNLOADS)}, got '{fmt}'", "format")
        if not 0 <= sample <= 999:
            raise ApiError(404, f"result {rid} has no sample {sample}", "sample")
        d = self.result_dir(rid) / f"sample_{sample:03d}"
        if not d.is_dir():
            raise ApiError(404, f"result {rid} has no sample {sample}", "sample")
        path = d / DOWNLOADS[fmt][0]
        if fmt == "mp4":                                              # rendered on first request, once
            from ..motion.render import render_motion
            self._made_once(path, rid, sample, lambda joints, p: render_motion(joints, p, fps=20.0))
        if not path.is_file() or path.is_symlink():
            raise ApiError(404, f"result {rid} sample {sample} has no {fmt} file", "format")
        return path

    # uploaded characters ("on my character"): the store's characters/ folder
    def characters_dir(self) -> Path:
        d = self.store / "characters"
        d.mkdir(exist_ok=True)
        return d

    def add_character(self, name: str, data: bytes) -> dict:
        from ..io_utils import atomic_write_bytes
        from ..motion.character import bone_map, read_character
        ext = Path(name or "").suffix.lower()
        if ext not in (".bvh", ".glb"):
            raise ApiError(422, "name: expected a file name ending in .bvh or .glb", "name")
        if not data:
            raise ApiError(422, "body: the file is empty", "body")
        cid = uuid.uuid4().hex[:12]
        d = self.characters_dir()
        tmp = d / f".upload-{cid}{ext}"
        tmp.write_bytes(data)
        try:
            ch = read_character(tmp)
            how, mapping = bone_map(ch)
        except (ValueError, KeyError, IndexError, OSError) as e:
            raise ApiError(422, f"character {Path(name).name}: {e}".replace(str(tmp), Path(name).name), "body") from None
        finally:
            tmp.unlink(missing_ok=True)
        atomic_write_bytes(d / f"{cid}{ext}", data)
        mapped = {j for j in mapping.values()}
        info = {"id": cid, "name": Path(name).name[:120], "format": ext[1:], "bones": ch.num_joints,
                "mapped": len(mapping), "how": how, "at_rest": [n for j, n in enumerate(ch.names) if j not in mapped]}
        atomic_write_bytes(d / f"{cid}.json", json.dumps(info, indent=2).encode())
        return info

    def list_characters(self) -> list[dict]:
        out = []
        for f in sorted(self.characters_dir().glob("*.json")):
            try:
                out.append(json.loads(f.read_text()))
            except (OSError, ValueError):
                continue
        return out

    def on_character(self, rid: str, sample: int, cid: str, ext: str) -> Path:
        from ..motion.character import (CharacterError, read_character, retarget_to_character, write_character_bvh,
                                        write_character_glb)
        if ext not in ("bvh", "glb"):
            raise ApiError(400, f"format: expected bvh or glb, got '{ext}'", "format")
        if not re.fullmatch(r"[0-9a-f]{12}", cid or ""):
            raise ApiError(400, "character: expected a character id", "character")
        rigs = [p for p in self.characters_dir().glob(f"{cid}.*") if p.suffix in (".bvh", ".glb")]
        if not rigs:
            raise ApiError(404, f"no character '{cid}'", "character")
        if not 0 <= sample <= 999:
            raise ApiError(404, f"result {rid} has no sample {sample}", "sample")
        d = self.result_dir(rid) / f"sample_{sample:03d}"
        if not d.is_dir():
            raise ApiError(404, f"result {rid} has no sample {sample}", "sample")
        path = d / f"character-{cid}.{ext}"

        def make(joints, p):
            try:
                res = retarget_to_character(joints.astype(np.float64), 20.0, read_character(rigs[0]))
            except (CharacterError, ValueError) as e:
                raise ApiError(404, f"result '{rid}' sample {sample} cannot go on character '{cid}': "
                                    f"{str(e)[:160]}", "character") from None
            (write_character_bvh if ext == "bvh" else write_character_glb)(p, res)
        self._made_once(path, rid, sample, make)
        return path


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _read_json(f: Path):
    """A stored JSON file that the answer can carry as it is: at most 1 MiB, UTF-8, no NaN or Infinity."""
    if f.is_symlink() or f.stat().st_size > 1 << 20:
        raise ValueError(f"{f.name} is not a plain file of at most 1 MiB")
    obj = json.loads(f.read_text(encoding="utf-8"), parse_constant=_no_constant)
    json.dumps(obj, ensure_ascii=False).encode("utf-8")     # a lone surrogate ('\\udcff') cannot be answered
    return obj


def _load_joints(f: Path) -> np.ndarray:
    """joints.npy of a stored sample: (T, J, 3) finite numbers (no pickles)."""
    if f.is_symlink():
        raise ValueError(f"{f.name} is a link")
    try:
        joints = np.load(f, allow_pickle=False, mmap_mode="r")      # mapped: a lying header allocates nothing
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:        # a zip header: np.load tries .npz
        raise ValueError(f"{f.name} is not a readable .npy array ({str(e)[:60]})") from None
    if not isinstance(joints, np.ndarray):
        raise ValueError(f"{f.name} is not a .npy array")
    if joints.ndim != 3 or joints.shape[2] != 3 or not 1 <= joints.shape[0] <= 100000 or \
            not 1 <= joints.shape[1] <= 64 or not np.issubdtype(joints.dtype, np.number):
        raise ValueError(f"{f.name} is not joint positions (T, J, 3), got {joints.dtype} {joints.shape}")
    joints = np.asarray(joints, np.float32)
    if not np.isfinite(joints).all():
        raise ValueError(f"{f.name} holds NaN or infinite values")
    return joints


def _check_unicode(text: str, name: str) -> None:
    from ..plan import check_text
    try:
        check_text(text, name)
    except ValueError as e:
        raise ApiError(422, str(e), name) from None


def _check_generate(studio: Studio, req: GenerateRequest) -> dict:
    lim = studio.limits
    if (req.text is None) == (req.plan is None):
        raise ApiError(422, "text/plan: give exactly one of 'text' or 'plan'", "text")
    if req.text is not None:
        if not req.text.strip():
            raise ApiError(422, "text: the text is empty", "text")
        _check_unicode(req.text, "text")
        if len(req.text) > lim.max_text:
            raise ApiError(422, f"text: {len(req.text)} characters; at most {lim.max_text}", "text")
    model = req.model or studio.default_model
    if model not in studio.models:
        raise ApiError(422, f"model: unknown model '{model}'; this server has {', '.join(studio.models)}", "model")
    max_seconds = next(m["max_seconds"] for m in studio.model_info() if m["name"] == model)
    if req.plan is not None:
        from ..plan import Plan, PlanError
        try:
            plan = Plan.from_dict(req.plan)
        except PlanError as e:
            raise ApiError(422, str(e), "plan") from None
        if plan.total_frames() / 20.0 > max_seconds:
            raise ApiError(422, f"plan: lasts {plan.total_frames() / 20:g} s; this model makes at most "
                                f"{max_seconds:g} s", "plan")
    elif not 0.5 <= req.seconds <= max_seconds:
        raise ApiError(422, f"seconds: expected 0.5 to {max_seconds:g} (the model's limit), got {req.seconds:g}",
                       "seconds")
    if req.samples > lim.max_samples:
        raise ApiError(422, f"samples: at most {lim.max_samples} per request, got {req.samples}", "samples")
    if req.seed + req.samples - 1 > MAX_SEED:
        raise ApiError(422, f"seed: each sample takes the next seed; seed + samples - 1 must be at most {MAX_SEED}",
                       "seed")
    if req.steps is not None and req.steps > lim.max_steps:
        raise ApiError(422, f"steps: at most {lim.max_steps}, got {req.steps}", "steps")
    return req.model_dump()


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _host_name(value: str) -> str | None:
    """The name part of a Host header or Origin authority ('[::1]:7860' -> '::1'); None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1:] and not re.fullmatch(r":\d{1,5}", value[end + 1:])):
            return None
        return value[1:end]
    name, _, port = value.partition(":")
    if (port and not re.fullmatch(r"\d{1,5}", port)) or not name or not re.fullmatch(r"[a-z0-9._-]+", name):
        return None
    return name.rstrip(".")


class RequestGuard:
    """ASGI middleware in front of every route.

    * ``Host`` must be one of this server's names (the loopback names and the ``--host`` it serves on): a page
      whose DNS name rebinds to 127.0.0.1 sends its own name and is refused, so it cannot read or queue anything;
    * a state-changing request (any method but GET/HEAD/OPTIONS; cancel included) must come from the studio's own
      page: an ``Origin`` header, when sent, must be exactly ``http(s)://<Host>``; a browser's
      ``Sec-Fetch-Site: cross-site`` is refused; a body must be ``application/json`` (no form posts);
    * a body is counted while it streams (chunked or not) and refused at ``max_body_bytes`` (413) without reading
      the rest."""

    SAFE = ("GET", "HEAD", "OPTIONS")

    def __init__(self, app, studio: Studio, hosts: tuple[str, ...]):
        self.app, self.studio, self.hosts = app, studio, {h.lower() for h in hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.decode("latin-1").lower(), v.decode("latin-1"))
        host = headers.get("host", "")
        name = _host_name(host)
        if name is None or name not in self.hosts:
            return await _reject(send, 421, f"Host: '{host[:80]}' is not this server's name; the studio answers "
                                            f"only {', '.join(sorted(self.hosts))}", "host")
        method = scope.get("method", "GET")
        if method not in self.SAFE:
            origin = headers.get("origin")
            if origin is not None:
                m = re.fullmatch(r"(https?)://([^/]+)", origin.strip().lower())
                if not m or m.group(2) != host.strip().lower() or _host_name(m.group(2)) not in self.hosts:
                    return await _reject(send, 403, f"Origin: '{origin[:80]}' is not this studio's page; "
                                                    f"requests that change state come only from it", "origin")
            if headers.get("sec-fetch-site", "").lower() == "cross-site":
                return await _reject(send, 403, "Sec-Fetch-Site: cross-site requests may not change state",
                                     "origin")
        upload = scope.get("path") == "/api/characters"      # a rig file's raw bytes, not JSON
        limit = self.studio.limits.max_character_bytes if upload else self.studio.limits.max_body_bytes
        size = headers.get("content-length")
        if size is not None and (not size.strip().isdigit() or len(size.strip()) > 15 or int(size) > limit):
            return await _reject(send, 413, f"body: at most {limit} bytes", "body")
        messages, total = [], 0
        while True:                                  # read (and count) the body before the app sees any of it
            message = await receive()
            if message["type"] != "http.request":
                messages.append(message)
                break
            total += len(message.get("body", b""))
            if total > limit:
                return await _reject(send, 413, f"body: at most {limit} bytes", "body")
            messages.append(message)
            if not message.get("more_body", False):
                break
        if total and method not in self.SAFE:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            # neither is a type a cross-site form may send without a CORS preflight (which the studio never grants)
            expected = "application/octet-stream" if upload else "application/json"
            if ctype != expected:
                return await _reject(send, 415, f"Content-Type: expected {expected}, got '{ctype[:60]}'", "body")

        async def replay():
            return messages.pop(0) if messages else await receive()
        return await self.app(scope, replay, send)


async def _reject(send, status: int, message: str, field_name: str) -> None:
    body = json.dumps({"error": message, "field": field_name}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def create_app(models: list[str] | None = None, store: str | Path = "studio_results", device: str = "cpu",
               limits: Limits | None = None, hosts: tuple[str, ...] | list[str] = (), llm_url: str | None = None,
               llm_model: str | None = None, llm_key: str | None = None) -> FastAPI:
    """The studio app. ``hosts``: names besides the loopback ones that clients may use in ``Host`` (the ``--host``
    it serves on). ``llm_url``/``llm_model``/``llm_key``: the operator's LLM server for the openai backend."""
    studio = Studio(models, store, device, limits, llm_url, llm_model, llm_key)
    app = FastAPI(title="motiongen studio", version="1",
                  description="Generate, plan, edit and download motion. Jobs run one at a time on a worker.")
    app.state.studio = studio
    app.add_middleware(RequestGuard, studio=studio,
                       hosts=tuple(LOOPBACK_NAMES) + tuple(h.strip("[]") for h in hosts if h))

    @app.exception_handler(ApiError)
    async def api_error(_request, exc: ApiError):
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_body(_request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(x) for x in first.get("loc", []) if x != "body"]
        name = ".".join(loc) or "body"
        if name in OPERATOR_FIELDS:
            return JSONResponse({"error": f"{name}: {OPERATOR_FIELDS[name]}", "field": name}, status_code=422)
        return JSONResponse({"error": f"{name}: {str(first.get('msg', 'invalid'))[:200]}", "field": name},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):     # e.g. a 5000-digit integer
            return JSONResponse({"error": "body: not usable JSON (malformed, or a number too long to read)",
                                 "field": "body"}, status_code=400)
        return JSONResponse({"error": str(exc.detail), "field": None}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_request, exc: Exception):       # never a traceback in the page
        return JSONResponse({"error": f"internal error: {type(exc).__name__}"}, status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/models", summary="the models this server offers")
    def models_():
        return {"models": studio.model_info(), "default": studio.default_model, "llm": bool(studio.llm_url),
                "limits": {"max_text": studio.limits.max_text, "max_samples": studio.limits.max_samples,
                           "queue_size": studio.limits.queue_size}}

    @app.post("/api/generate", status_code=202, summary="queue a generation (text or plan)")
    def generate_(req: GenerateRequest):
        return {"job": studio.submit("generate", _check_generate(studio, req)).public()}

    @app.post("/api/edit", status_code=202, summary="queue an edit of an earlier result")
    def edit_(req: EditRequest):
        if not req.instruction.strip():
            raise ApiError(422, "instruction: the instruction is empty", "instruction")
        if len(req.instruction) > studio.limits.max_text:
            raise ApiError(422, f"instruction: at most {studio.limits.max_text} characters", "instruction")
        _check_unicode(req.instruction, "instruction")
        if req.llm_model is not None:
            _check_unicode(req.llm_model, "llm_model")
        if req.backend == "openai" and not studio.llm_url:
            raise ApiError(422, "backend: this server has no LLM server (the operator starts it with motiongen "
                                "serve --llm-url URL)", "backend")
        studio.read_record(studio.result_dir(req.parent))
        return {"job": studio.submit("edit", req.model_dump()).public()}

    @app.get("/api/jobs/{job_id}", summary="a job's status and denoising progress")
    def job_(job_id: str):
        job = studio.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job '{job_id[:40]}'", "job_id")
        return job.public()

    @app.post("/api/jobs/{job_id}/cancel", summary="cancel a queued or running job")
    def cancel_(job_id: str):
        job = studio.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job '{job_id[:40]}'", "job_id")
        studio.cancel(job)
        return job.public()

    @app.get("/api/results", summary="all results, newest first (damaged ones are skipped and named)")
    def results_():
        results, damaged = studio.list_results()
        return {"results": results, "damaged": damaged}

    @app.get("/api/results/{rid}", summary="a result: its record and every sample's joints (for the viewer)")
    def result_(rid: str):
        d = studio.result_dir(rid)
        info = studio.read_record(d)
        samples = [studio.read_sample(d, k) for k in range(info.get("samples", 1))]
        return {**info, "sample_data": samples, "downloads": list(DOWNLOADS)}

    @app.get("/api/results/{rid}/samples/{sample}/{fmt}", summary="download one sample as bvh, joints, features, "
             "glb, mp4, plan or meta")
    def download_(rid: str, sample: int, fmt: str):
        path = studio.download(rid, sample, fmt)
        name, media = DOWNLOADS[fmt]
        return FileResponse(path, media_type=media, filename=f"{rid}-{sample}-{name}")

    # ---- "on my character": a rig uploaded once, any result downloaded on it ----------------------------------
    @app.post("/api/characters", status_code=201, summary="upload your character (the raw bytes of a .bvh or .glb "
              "file as the body; ?name=file.bvh|file.glb); answers its id, bone map and the bones left at rest")
    async def character_upload_(request: Request, name: str):
        return studio.add_character(name, await request.body())

    @app.get("/api/characters", summary="the uploaded characters")
    def characters_():
        return {"characters": studio.list_characters()}

    @app.get("/api/results/{rid}/samples/{sample}/character/{cid}.{ext}",
             summary="download one sample retargeted onto an uploaded character, as bvh or glb")
    def character_download_(rid: str, sample: int, cid: str, ext: str):
        path = studio.on_character(rid, sample, cid, ext)
        return FileResponse(path, media_type="model/gltf-binary" if ext == "glb" else "application/octet-stream",
                            filename=f"{rid}-{sample}-{cid}.{ext}")

    return app


def serve(host: str = "127.0.0.1", port: int = 7860, models: list[str] | None = None,
          store: str = "studio_results", device: str = "cpu", llm_url: str | None = None,
          llm_model: str | None = None, llm_key: str | None = None, allow_hosts: list[str] | None = None) -> None:
    """Serve the studio. The LLM server (``llm_url``, else $MOTIONGEN_LLM_BASE_URL) and its key (``llm_key``, else
    $OPENAI_API_KEY) are the operator's settings: requests cannot name another server or send a key."""
    import os

    import uvicorn
    if host not in LOOPBACK_NAMES:
        print(f"warning: serving on {host}: anyone who can reach this address can generate and read results; "
              f"there is no authentication")
    llm_url = llm_url or os.environ.get("MOTIONGEN_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or None
    llm_key = llm_key if llm_key is not None else os.environ.get("OPENAI_API_KEY", "")
    llm_model = llm_model or os.environ.get("MOTIONGEN_LLM_MODEL")
    hosts = [host] + list(allow_hosts or [])
    app = create_app(models, store, device, hosts=[h for h in hosts if h not in ("0.0.0.0", "::")],
                     llm_url=llm_url, llm_model=llm_model, llm_key=llm_key)
    print(f"motiongen studio on http://{host}:{port}/  (API docs: http://{host}:{port}/docs; results in {store})")
    if llm_url:
        print(f"edits with the openai backend go to {llm_url}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
