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


class Cancelled(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


# ---- request bodies --------------------------------------------------------------------------------------------

class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(None, description="a sentence (or give a plan)")
    plan: dict[str, Any] | None = Field(None, description="a fine-grained plan, the JSON the CLI reads")
    seconds: float = Field(4.0, description="duration for a sentence")
    seed: int = Field(0, ge=0, le=2 ** 31 - 1)
    samples: int = Field(1, ge=1)
    sampler: Literal["ddpm", "ddim", "dpm"] | None = None
    steps: int | None = Field(None, ge=1)
    guidance: float | None = Field(None, ge=0.0, le=100.0)
    model: str | None = None


class EditRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent: str = Field(..., description="the id of an earlier result")
    sample: int = Field(0, ge=0, description="which sample of the parent to edit")
    instruction: str
    backend: Literal["offline", "openai"] = "offline"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_key: str | None = None
    seed: int | None = Field(None, ge=0, le=2 ** 31 - 1)


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
                 limits: Limits | None = None):
        from ..pipeline import resolve_model_dir
        self.limits = limits or Limits()
        self.device = device
        self.store = Path(store)
        self.store.mkdir(parents=True, exist_ok=True)
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
        meta = json.loads((parent / "result.json").read_text())
        sample = parent / f"sample_{r.get('sample', 0):03d}"
        if not sample.is_dir():
            raise ApiError(400, f"sample: result {r['parent']} has {meta.get('samples', 1)} sample(s)", "sample")
        kw = {}
        if r.get("backend") == "openai":
            kw = {"base_url": r.get("llm_url"), "model": r.get("llm_model"), "api_key": r.get("llm_key")}
        backend = make_backend(r.get("backend", "offline"), **kw)
        model_name = meta.get("model") or self.default_model
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

    def list_results(self) -> list[dict]:
        out = []
        for d in sorted(self.store.iterdir(), reverse=True):
            if d.is_dir() and ID_RE.match(d.name) and (d / "result.json").is_file():
                try:
                    info = json.loads((d / "result.json").read_text())
                except (OSError, ValueError):
                    continue
                out.append({k: info.get(k) for k in ("id", "text", "created", "samples", "frames", "parent",
                                                      "instruction", "model", "seed")})
        return out

    def download(self, rid: str, sample: int, fmt: str) -> Path:
        if fmt not in DOWNLOADS:
            raise ApiError(400, f"format: expected one of {', '.join(DOWNLOADS)}, got '{fmt}'", "format")
        d = self.result_dir(rid) / f"sample_{sample:03d}"
        if not d.is_dir():
            raise ApiError(404, f"result {rid} has no sample {sample}", "sample")
        path = d / DOWNLOADS[fmt][0]
        if fmt == "mp4" and not path.is_file():                      # rendered on first request
            from ..io_utils import atomic_write
            from ..motion.render import render_motion
            joints = np.load(d / "joints.npy")
            atomic_write(path, lambda p: render_motion(joints, p, fps=20.0), suffix=".mp4")
        if not path.is_file():
            raise ApiError(404, f"result {rid} sample {sample} has no {fmt} file", "format")
        return path


def _check_generate(studio: Studio, req: GenerateRequest) -> dict:
    lim = studio.limits
    if (req.text is None) == (req.plan is None):
        raise ApiError(422, "text/plan: give exactly one of 'text' or 'plan'", "text")
    if req.text is not None:
        if not req.text.strip():
            raise ApiError(422, "text: the text is empty", "text")
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
    if req.steps is not None and req.steps > lim.max_steps:
        raise ApiError(422, f"steps: at most {lim.max_steps}, got {req.steps}", "steps")
    return req.model_dump()


def create_app(models: list[str] | None = None, store: str | Path = "studio_results", device: str = "cpu",
               limits: Limits | None = None) -> FastAPI:
    studio = Studio(models, store, device, limits)
    app = FastAPI(title="motiongen studio", version="1",
                  description="Generate, plan, edit and download motion. Jobs run one at a time on a worker.")
    app.state.studio = studio

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > studio.limits.max_body_bytes):
            return JSONResponse({"error": f"body: at most {studio.limits.max_body_bytes} bytes", "field": "body"},
                                status_code=413)
        if request.method in ("POST", "PUT") and size is None and "chunked" in request.headers.get(
                "transfer-encoding", ""):
            body = await request.body()
            if len(body) > studio.limits.max_body_bytes:
                return JSONResponse({"error": f"body: at most {studio.limits.max_body_bytes} bytes",
                                     "field": "body"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_request, exc: ApiError):
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_body(_request, exc: RequestValidationError):
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = [str(x) for x in first.get("loc", []) if x != "body"]
        name = ".".join(loc) or "body"
        return JSONResponse({"error": f"{name}: {first.get('msg', 'invalid')}", "field": name}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request, exc: StarletteHTTPException):
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
        return {"models": studio.model_info(), "default": studio.default_model,
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
        studio.result_dir(req.parent)
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

    @app.get("/api/results", summary="all results, newest first")
    def results_():
        return {"results": studio.list_results()}

    @app.get("/api/results/{rid}", summary="a result: its record and every sample's joints (for the viewer)")
    def result_(rid: str):
        d = studio.result_dir(rid)
        info = json.loads((d / "result.json").read_text())
        samples = []
        for k in range(int(info.get("samples", 1))):
            sub = d / f"sample_{k:03d}"
            joints = np.load(sub / "joints.npy")
            meta = json.loads((sub / "meta.json").read_text())
            samples.append({"seed": meta.get("seed"), "fps": meta.get("fps", 20.0),
                            "joints": np.round(joints.astype(np.float64), 4).tolist(),
                            "plan": json.loads((sub / "plan.json").read_text())})
        return {**info, "sample_data": samples, "downloads": list(DOWNLOADS)}

    @app.get("/api/results/{rid}/samples/{sample}/{fmt}", summary="download one sample as bvh, joints, features, "
             "glb, mp4, plan or meta")
    def download_(rid: str, sample: int, fmt: str):
        path = studio.download(rid, sample, fmt)
        name, media = DOWNLOADS[fmt]
        return FileResponse(path, media_type=media, filename=f"{rid}-{sample}-{name}")

    return app


def serve(host: str = "127.0.0.1", port: int = 7860, models: list[str] | None = None,
          store: str = "studio_results", device: str = "cpu") -> None:
    import uvicorn
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host}: anyone who can reach this address can generate and read results; "
              f"there is no authentication")
    app = create_app(models, store, device)
    print(f"motiongen studio on http://{host}:{port}/  (API docs: http://{host}:{port}/docs; results in {store})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
