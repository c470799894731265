"""Load on the studio server over loopback: N concurrent clients, a bounded number of requests each.

    python benchmarks/serve_load.py [--clients 4] [--requests 5] [--model DIR|NAME] [--steps 10] [--seconds 4]
                                    [--queue 8]

Starts ``motiongen serve``'s app (uvicorn, in this process) on a free port with a fresh store, then each client
submits a generation, polls its job to the end, and downloads the BVH, joints and features. Prints throughput
(finished requests per second), p50/p95 latency from submit to result, how many submissions were refused with 429
(a client waits and retries those, up to 20 times), failures, and checks that every accepted request's files are
complete (the BVH parses with the right frame count, the arrays have the right shapes).
"""
from __future__ import annotations

import argparse
import io
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=5, help="per client")
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--queue", type=int, default=8)
    a = ap.parse_args()
    import uvicorn

    from motiongen.motion.bvh import read_bvh
    from motiongen.studio.server import Limits, create_app
    store = Path(tempfile.mkdtemp(prefix="motiongen-serve-load-"))
    port = _free_port()
    app = create_app([a.model] if a.model else None, store, limits=Limits(queue_size=a.queue))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    while not srv.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    print("command: python " + " ".join(sys.argv))
    print(f"server on {base}, store {store}; {a.clients} clients x {a.requests} requests, {a.seconds:g} s motions, "
          f"{a.steps} steps, queue {a.queue}")
    lat, rejected, failed, incomplete = [], [0], [], []
    lock = threading.Lock()
    frames = int(round(a.seconds * 20))

    def client(c: int) -> None:
        for r in range(a.requests):
            t0 = time.perf_counter()
            for _attempt in range(20):
                status, body = _call(base + "/api/generate", {"text": f"a person walks forward {c} {r}",
                                                             "seconds": a.seconds, "steps": a.steps, "seed": r})
                if status != 429:
                    break
                with lock:
                    rejected[0] += 1
                time.sleep(0.5)
            if status != 202:
                with lock:
                    failed.append(f"submit {status}: {body[:200]!r}")
                continue
            job = json.loads(body)["job"]
            while job["status"] in ("queued", "running"):
                time.sleep(0.1)
                job = json.loads(_call(f"{base}/api/jobs/{job['id']}")[1])
            if job["status"] != "done":
                with lock:
                    failed.append(f"job {job['status']}: {job.get('error')}")
                continue
            elapsed = time.perf_counter() - t0
            rid = job["result"]
            ok = True
            s, bvh = _call(f"{base}/api/results/{rid}/samples/0/bvh")
            tmp = store / f"check-{c}-{r}.bvh"
            tmp.write_bytes(bvh)
            try:
                ok &= s == 200 and read_bvh(tmp).num_frames == frames
            except Exception:  # noqa: BLE001 - any parse failure is an incomplete file
                ok = False
            for fmt, shape in (("joints", (frames, 22, 3)), ("features", (frames, 263))):
                s, raw = _call(f"{base}/api/results/{rid}/samples/0/{fmt}")
                try:
                    ok &= s == 200 and np.load(io.BytesIO(raw)).shape == shape
                except Exception:  # noqa: BLE001
                    ok = False
            with lock:
                lat.append(elapsed)
                if not ok:
                    incomplete.append(rid)

    t_start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    srv.should_exit = True
    lat.sort()
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))] if lat else float("nan")
    print(f"finished {len(lat)} of {a.clients * a.requests} in {wall:.1f} s: {len(lat) / wall:.2f} requests/s; "
          f"latency p50 {statistics.median(lat) if lat else float('nan'):.2f} s, p95 {p95:.2f} s; "
          f"429 refusals {rejected[0]} (retried); failures {len(failed)}; incomplete files {len(incomplete)}")
    for f in failed[:5]:
        print("  failure:", f)


if __name__ == "__main__":
    main()
