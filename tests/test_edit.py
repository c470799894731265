import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest
import torch

from conftest import randomised

from motiongen.cli import main
from motiongen.edit.editor import EditError, edit, hold_weights, plan_diff
from motiongen.edit.llm import LLMEditError, OpenAIChatEditor
from motiongen.edit.offline import EditNotUnderstood, OfflineEditor
from motiongen.models.registry import build_denoiser
from motiongen.pipeline import MotionPipeline
from motiongen.plan import Plan
from motiongen.skeleton import HUMANML3D
from motiongen.text.encoders import load_text_encoder

PLAN = Plan.from_dict({"stages": [{"text": "a person walks forward", "seconds": 2},
                                  {"text": "a person waves with the left hand", "seconds": 2},
                                  {"text": "the person sits down", "seconds": 2}]})


@pytest.mark.parametrize("instruction,check", [
    ("make the second stage slower and raise the right arm higher",
     lambda s: s[1]["frames"] == [40, 100] and s[1]["text"] == "a person waves with the left hand slowly"
     and s[1]["parts"] == {"right_arm": "a person raises the right hand"} and s[2]["frames"] == [100, 140]),
    ("make the first stage slower and raise the left arm higher",
     lambda s: s[0]["text"] == "a person walks forward slowly" and s[0]["parts"] == {"left_arm": "a person raises the left hand"}),
    ("raise the right arm", lambda s: all(x["parts"]["right_arm"] == "a person raises the right hand" for x in s)),
    ("lower the left arm", lambda s: s[1]["parts"] == {"left_arm": "a person raises the left hand"} and "parts" not in s[0]),
    ("use the other hand", lambda s: s[1]["text"] == "a person waves with the right hand" and s[0] == PLAN.to_dict()["stages"][0]),
    ("in stage 2, raise both hands", lambda s: s[1]["parts"] == {"right_arm": "a person raises the right hand"}),
    ("make the last stage longer", lambda s: s[2] == {"text": "the person sits down", "frames": [80, 140]}),
    ("in the first stage, the person jumps", lambda s: s[0]["text"] == "a person jumps"),
    ("remove the second stage", lambda s: [x["text"] for x in s] == ["a person walks forward", "the person sits down"]),
    ("swap stage 1 and stage 3", lambda s: s[0]["text"] == "the person sits down" and s[2]["frames"] == [80, 120]),
    ("add a stage: the person bows", lambda s: s[3] == {"text": "the person bows", "frames": [120, 180]}),
    ("add 'a person jumps' at the start", lambda s: s[0]["text"] == "a person jumps" and s[1]["frames"][0] == 60),
    ("change stage 2 to 'the person claps'", lambda s: s[1]["text"] == "the person claps"),
    ("replace 'walks' with 'runs'", lambda s: s[0]["text"] == "a person runs forward"),
    ("make everything faster", lambda s: s[2] == {"text": "the person sits down energetically", "frames": [54, 81]}),
    ("make stage 3 last 4 seconds", lambda s: s[2]["frames"] == [80, 160]),
    ("move the last stage to the start", lambda s: s[0]["text"] == "the person sits down"),
    ("reverse the stages", lambda s: s[0]["text"] == "the person sits down"),
    ("slow down the last 1 seconds", lambda s: [x["frames"] for x in s] == [[0, 40], [40, 80], [80, 100], [100, 130]]
     and s[2]["text"] == "the person sits down" and s[3]["text"] == "the person sits down slowly"),
    ("speed up the first 2 seconds", lambda s: s[0]["frames"] == [0, 27] and s[2]["frames"] == [67, 107]),
    ("speed up the first 4 seconds", lambda s: [x["frames"] for x in s] == [[0, 27], [27, 54], [54, 94]]),
    ("slow down the last 3 seconds", lambda s: [x["frames"] for x in s] == [[0, 40], [40, 60], [60, 90], [90, 150]]),
    ("swap stages 1 and 2", lambda s: [x["text"] for x in s][:2] == ["a person waves with the left hand",
                                                                     "a person walks forward"]),
])
def test_offline_editor_understands(instruction, check):
    out = OfflineEditor().revise(PLAN, instruction)
    Plan.from_dict(out)
    assert check(out["stages"]), out


@pytest.mark.parametrize("instruction,match", [
    ("dance like a chicken", "did not understand 'dance like a chicken'"),
    ("wave higher and make it groovy", "did not understand"),
    ("in stage 2, the right leg kicks", "does not kick|not among them"),
    ("in stage 2, raise the left arm higher", "highest arm pose"),
    ("make the second stage slower and raise the left arm higher", "highest arm pose"),
    ("in stage 1, lower the left arm", "^cannot do 'in stage 1, lower the left arm': stage 1: the left hand already follows the stage's sentence; .*no lower"),
    ("in stage 1, lower both arms", "^cannot do 'in stage 1, lower both arms': stage 1: both hands already follow the stage's sentence"),
    ("in stage 2, raise the left arm higher", "the left hand already waves above the head"),
    ("remove stage 7", "no stage 7"),
    ("", "empty"),
])
def test_offline_editor_says_when_it_does_not_understand(instruction, match):
    with pytest.raises(EditNotUnderstood, match=match):
        OfflineEditor().revise(PLAN, instruction)


def test_the_other_hand_swaps_hands_and_arms_only_not_turns():
    plan = Plan.from_dict({"stages": [
        {"text": "a person walks in a left turn", "seconds": 2,
         "parts": {"left_arm": "a person raises the left hand", "left_leg": "a person lifts the left foot"}},
        {"text": "a person turns right and waves with the Right hand", "seconds": 2}]})
    out = OfflineEditor().revise(plan, "use the other hand")["stages"]
    assert out[0]["text"] == "a person walks in a left turn"
    assert out[0]["parts"] == {"right_arm": "a person raises the right hand", "left_leg": "a person lifts the left foot"}
    assert out[1]["text"] == "a person turns right and waves with the Left hand"
    turn_only = Plan.from_dict({"stages": [{"text": "a person walks in a left turn", "seconds": 2}]})
    with pytest.raises(EditNotUnderstood, match="no sentence names a left or right hand or arm"):
        OfflineEditor().revise(turn_only, "use the other hand")


def test_every_listed_phrasing_is_understood_and_listed_in_the_refusal():
    from motiongen.edit.offline import PHRASINGS
    for phrasing in PHRASINGS:
        out = OfflineEditor().revise(PLAN, phrasing)
        assert Plan.from_dict(out).to_dict() != PLAN.to_dict(), phrasing          # it did something
    from motiongen.edit.offline import SHORT_EXAMPLES
    assert 3 <= len(SHORT_EXAMPLES) <= 4 and set(SHORT_EXAMPLES) <= set(PHRASINGS)
    with pytest.raises(EditNotUnderstood) as e:
        OfflineEditor().revise(PLAN, "dance like a chicken " * 40)
    msg = str(e.value)                              # short: a few examples and where the rest are
    assert all(p in msg for p in SHORT_EXAMPLES) and "README's Editing section" in msg and len(msg) < 400, msg
    with pytest.raises(EditNotUnderstood, match="at most 1000"):
        OfflineEditor().revise(PLAN, "slower " * 2000)
    with pytest.raises(EditNotUnderstood, match="would be all of it"):
        OfflineEditor().revise(PLAN, "slow down the last 9 seconds")


def test_plan_diff_and_hold_weights():
    new = Plan.from_dict(OfflineEditor().revise(PLAN, "in stage 3, the right arm waves"))
    diff = plan_diff(PLAN, new)
    assert diff == ["~ stage 3 right_arm: '(stage text)' -> 'a person waves with the right hand'"]
    parts = HUMANML3D.finemogen_part_feature_indices()
    old = np.random.default_rng(0).normal(size=(120, 263)).astype(np.float32)
    ref, w, notes = hold_weights(PLAN, new, old, 263, parts, blend=5)
    ra = parts["right_arm"]
    assert w[:75].min() == 1.0                                    # stages 1-2 fully held
    assert np.all(w[80:, ra] == 0) and np.all(w[:, parts["left_arm"]] == 1)
    assert w[79, ra[0]] == pytest.approx(0.2) and w[75, ra[0]] == pytest.approx(1.0)   # 5-frame ramp
    assert np.array_equal(ref, old)
    assert any("regenerated right_arm" in n for n in notes)
    slower = Plan.from_dict(OfflineEditor().revise(PLAN, "make the first stage slower"))
    ref, w, notes = hold_weights(PLAN, slower, old, 263, parts)
    assert np.all(w[:60] == 0) and w[75:95].min() == 1.0           # stage 2 kept at its new place
    assert np.array_equal(ref[60:100], old[40:80])
    assert plan_diff(PLAN, PLAN) == ["(no change)"]


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    torch.manual_seed(0)
    tiny = dict(num_layers=1, part_dim=16, num_templates=8, text_latent_dim=32, text_layers=1, text_heads=2,
                text_ff_dim=64, time_embed_dim=64, ffn_dim=32, num_experts=4, top_k=2, expert_hidden_dim=32)
    den = build_denoiser("finemogen", **tiny)
    randomised(den)                # the zero-initialised output layers would make an untrained model ignore text
    pipe = MotionPipeline(den, load_text_encoder(), np.zeros(263, np.float32), np.ones(263, np.float32), {})
    root = tmp_path_factory.mktemp("edit")
    pipe.save_pretrained(root / "model")
    plan = root / "plan.json"
    plan.write_text(json.dumps(PLAN.to_dict()))
    assert main(["generate", "--plan", str(plan), "--model", str(root / "model"), "--out", str(root / "v1"),
                 "--steps", "4", "--preview", "none", "--quiet"]) == 0
    return root


def test_edit_keeps_unchanged_stages_and_changes_the_edited_one(parent):
    old = np.load(parent / "v1" / "motion.npy")
    res = edit(parent / "v1", "change stage 2 to 'the person jumps'", blend=3)
    new = res.motions[0].features
    assert new.shape == old.shape
    # stages 1 and 3 are held (exactly where the hold weight is 1), stage 2 is new
    assert np.abs(new[:37] - old[:37]).max() < 1e-4
    assert np.abs(new[83:] - old[83:]).max() < 1e-4
    assert np.abs(new[45:75] - old[45:75]).mean() > 0.02         # 200x the held stages' tolerance
    assert res.motions[0].meta["parent"] == str(parent / "v1")
    full = edit(parent / "v1", "change stage 2 to 'the person jumps'", regenerate_all=True)
    # nothing is held, yet stage 1 barely moves: stage 2's new text does not reach it (temporal independence)
    d = np.abs(full.motions[0].features[:37] - old[:37])
    assert d.max() > 1e-5 and d.mean() < 0.01


def test_cli_edit_writes_a_child_folder(parent, capsys):
    out = parent / "v2"
    assert main(["edit", "make the second stage slower and raise the right arm higher", "--from",
                 str(parent / "v1"), "--out", str(out), "--preview", "none"]) == 0
    printed = capsys.readouterr().out
    assert "stage 2: 2 s -> 3 s" in printed and "right_arm: '(stage text)' -> 'a person raises the right hand'" in printed
    meta = json.loads((out / "meta.json").read_text())
    assert meta["instruction"].startswith("make the second") and meta["parent"] == str(parent / "v1")
    assert json.loads((out / "plan.json").read_text())["stages"][1]["frames"] == [40, 100]
    assert np.load(out / "joints.npy").shape == (140, 22, 3)
    assert main(["edit", "dance like a chicken", "--from", str(parent / "v1"), "--out", str(parent / "v3")]) == 2
    assert "did not understand" in capsys.readouterr().err and not (parent / "v3").exists()
    with pytest.raises(EditError, match="not a motiongen output"):
        edit(parent / "model", "slower")


# ---- the LLM path, against a real HTTP server on 127.0.0.1 ----------------------------------------------------
class _Server:
    def __init__(self, answers, delay=0.0):
        self.answers, self.delay, self.requests = list(answers), delay, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                time.sleep(outer.delay)
                content = outer.answers.pop(0) if outer.answers else "{}"
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.httpd.shutdown()
        self.httpd.server_close()


REVISED = {"stages": [{"text": "a person walks forward", "frames": [0, 40]},
                      {"text": "the person waves", "frames": [40, 100],
                       "parts": {"left_arm": "wave the left hand high"}},
                      {"text": "the person sits down", "frames": [100, 140]}]}


def test_llm_valid_answer_in_a_code_fence():
    with _Server(["Sure!\n```json\n" + json.dumps(REVISED) + "\n```"]) as srv:
        out = OpenAIChatEditor(srv.url, "local", api_key="k").revise(PLAN, "wave higher and for longer")
    assert out == REVISED
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k" and req["body"]["model"] == "local"
    assert "wave higher" in req["body"]["messages"][-1]["content"] and "left_arm" in req["body"]["messages"][0]["content"]


def test_llm_invalid_answers_are_retried_once_with_the_error():
    bad = {"stages": [{"text": "x", "frames": [0, 40], "parts": {"tail": "wag"}}]}
    with _Server(["I cannot do JSON", json.dumps(REVISED)]) as srv:
        assert OpenAIChatEditor(srv.url).revise(PLAN, "x") == REVISED
    assert "not a valid plan" in srv.requests[1]["body"]["messages"][-1]["content"]
    with _Server([json.dumps(bad), json.dumps(bad)]) as srv:
        with pytest.raises(LLMEditError, match="no valid plan after a retry.*tail"):
            OpenAIChatEditor(srv.url).revise(PLAN, "x")
    assert len(srv.requests) == 2


def test_llm_timeout_and_unreachable_server():
    with _Server([json.dumps(REVISED)], delay=2.0) as srv:
        with pytest.raises(LLMEditError, match="did not answer within 0.5 s"):
            OpenAIChatEditor(srv.url, timeout=0.5).revise(PLAN, "x")
    with pytest.raises(LLMEditError, match="cannot reach"):
        OpenAIChatEditor("http://127.0.0.1:9/v1", timeout=2).revise(PLAN, "x")
    with pytest.raises(LLMEditError, match="needs a server"):
        OpenAIChatEditor(base_url="")


def test_edit_through_the_llm_backend(parent):
    with _Server([json.dumps(REVISED)]) as srv:
        res = edit(parent / "v1", "wave higher and for longer", backend=OpenAIChatEditor(srv.url))
    assert res.motions[0].num_frames == 140
    assert any("left_arm" in line for line in res.diff)


@pytest.mark.parametrize("instruction", ["swap stage 1 and stage 3", "move the last stage to the start",
                                         "reverse the stages", "remove the second stage"])
def test_reordering_edits_regenerate_new_seams(instruction, real_samples):
    """New adjacencies are seams: regenerated, so the joint jump there stays within ordinary frame-to-frame motion.

    The 'model' is a stand-in that smooths its input over time (a trained denoiser writes plausible motion; this
    one writes the smoothest); the old hard cut fails the same bound."""
    from motiongen.diffusion.sampling import Inpainting, make_scheduler, sample
    from motiongen.motion.features import recover_joints_from_features
    from motiongen.edit.editor import new_seams

    feats = real_samples["009548"][0][:120].astype(np.float32)      # 199 frames of real mocap
    mean, std = feats.mean(0), feats.std(0) + 1e-2
    old = (feats - mean) / std
    new = Plan.from_dict(OfflineEditor().revise(PLAN, instruction))
    seams = new_seams(PLAN, new)
    assert seams                                          # every one of these edits makes a new adjacency
    parts = HUMANML3D.finemogen_part_feature_indices()

    class Smooth(torch.nn.Module):
        def forward(self, x, t, cond, mask):
            k = torch.ones(1, 1, 9) / 9
            y = torch.nn.functional.conv1d(x.transpose(1, 2).reshape(-1, 1, x.shape[1]), k, padding=4)
            return y.reshape(x.shape[0], x.shape[2], -1).transpose(1, 2)

    def jumps(features):
        j = recover_joints_from_features(features * std + mean)
        step = np.linalg.norm(np.diff(j, axis=0), axis=-1).max(-1)      # largest joint move per frame
        return step

    ordinary = np.percentile(jumps(old), 99)
    for seam, ok in ((6, True), (0, False)):              # seam=0: the old behaviour, a hard cut
        ref, w, _ = hold_weights(PLAN, new, old, 263, parts, blend=5, seam=seam)
        mask = torch.ones(1, len(ref), dtype=torch.bool)
        out = sample(Smooth(), None, mask, feature_dim=263, scheduler=make_scheduler("ddim", steps=20),
                     inpaint=Inpainting(torch.as_tensor(ref)[None], torch.as_tensor(w)[None]),
                     generators=[torch.Generator().manual_seed(0)])[0].numpy()
        step = jumps(out)
        at_seams = max(step[f - 2:f + 1].max() for f in seams)
        assert (at_seams <= 1.5 * ordinary) == ok, (instruction, seam, at_seams, ordinary)


class _Raw:
    """A loopback server that answers every connection with ``respond(conn)`` (raw bytes, any misbehaviour)."""

    def __init__(self, respond):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.respond, self.seen = respond, []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(self._read_request(conn))   # all of it: unread bytes would make close() a reset
                    self.respond(conn)
                    conn.shutdown(2 - 1)                         # SHUT_WR: a clean end of the response
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass

    @staticmethod
    def _read_request(conn) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"content-length:\s*(\d+)", head, re.I)
        need = int(m.group(1)) if m else 0
        while len(body) < need:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.sock.close()


def _http(body: bytes, status: str = "200 OK", headers: str = "Content-Type: application/json\r\n") -> bytes:
    return (f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def _answer(content) -> bytes:
    return json.dumps({"choices": [{"message": {"content": content}}]}).encode()


@pytest.mark.parametrize("respond,match", [
    (lambda c: c.sendall(_http(_answer(None))), "not text"),
    (lambda c: c.sendall(_http(_answer(["a"]))), "not text"),
    (lambda c: c.sendall(_http(b'{"choices": [{"message": {"content": "x"}}'[:20])), "not usable JSON"),
    (lambda c: c.sendall(b"GARBAGE\r\n\r\n"), "connection to the LLM server|not usable"),
    (lambda c: None, "connection to the LLM server|not usable|did not answer"),
    (lambda c: c.sendall(_http(b"[" * 200_000 + b"]" * 200_000)), "not usable JSON|more than"),
    (lambda c: c.sendall(_http(b"1" * 5000)), "not usable JSON|no choices"),
    (lambda c: c.sendall(_http(b"x" * (2 << 20))), "more than 1 MiB"),
    (lambda c: c.sendall(_http(_answer("{" * 5000 + "}" * 5000))), "no valid plan"),
])
def test_llm_client_gives_one_clear_error_for_every_bad_server(respond, match):
    with _Raw(respond) as srv:
        ed = OpenAIChatEditor(base_url=srv.url, timeout=3)
        with pytest.raises(LLMEditError, match=match):
            ed.revise(PLAN, "slower")


def test_llm_client_refuses_redirects_so_the_key_stays_with_its_server():
    with _Raw(lambda c: c.sendall(b"")) as other, _Raw(lambda c: None) as srv:
        srv.respond = lambda c: c.sendall(_http(b"", "302 Found", f"Location: {other.url}/chat/completions\r\n"))
        ed = OpenAIChatEditor(base_url=srv.url, api_key="sk-secret", timeout=3)
        with pytest.raises(LLMEditError, match="redirect"):
            ed.revise(PLAN, "slower")
        assert other.seen == []                  # nothing, and so no key, went to the other origin


def test_llm_timeout_covers_the_whole_exchange():
    """A server that trickles one byte every 0.1 s never lets a per-read timeout fire; the deadline must."""
    sent = []

    def trickle(c):
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(200):
            c.sendall(b" ")
            sent.append(1)
            time.sleep(0.1)
    with _Raw(trickle) as srv:
        ed = OpenAIChatEditor(base_url=srv.url, timeout=1)
        with pytest.raises(LLMEditError, match="did not answer within"):
            ed.revise(PLAN, "slower")
        assert len(srv.seen) == 1                # a time-out is not retried
    assert len(sent) < 200                       # the client hung up long before the trickle ended


# ---- each offline rule moves the shipped model's body the way the instruction says ------------------------------
# A parent of two 2-s stages (walk, then wave the left hand), generated and edited with the shipped model at 10
# DPM-Solver++ steps. Heights are of the raw decoded joints (no export cleanup), so parent and child compare alike.
L_WRIST, R_WRIST = 20, 21


def _raw_joints(features):
    from motiongen.motion.features import recover_joints_from_features
    return recover_joints_from_features(features, 22)


def _speed(j):
    """Mean horizontal root speed (m/s) at 20 fps."""
    return float(np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=1).mean() * 20)


@pytest.fixture(scope="module")
def shipped_parent(tmp_path_factory):
    root = tmp_path_factory.mktemp("shipped_edit")
    plan = root / "plan.json"
    plan.write_text(json.dumps({"stages": [{"text": "a person walks forward", "seconds": 2},
                                           {"text": "a person waves with the left hand", "seconds": 2}]}))
    assert main(["generate", "--plan", str(plan), "--out", str(root / "p"), "--steps", "10", "--formats", "npy",
                 "--quiet"]) == 0
    return root / "p", _raw_joints(np.load(root / "p" / "motion.npy"))


def _edited(parent_dir, instruction, seed=None):
    res = edit(parent_dir, instruction, seed=seed)
    return res, _raw_joints(res.motions[0].features)


def test_shipped_raise_lower_and_the_other_hand_move_the_wrists_that_way(shipped_parent):
    d, j0 = shipped_parent
    assert j0[40:, L_WRIST, 1].mean() > j0[40:, R_WRIST, 1].mean() + 0.4       # the parent waves the left hand
    res, j = _edited(d, "raise the right arm")
    assert all(s.parts["right_arm"] == "a person raises the right hand" for s in res.plan.stages)
    for a, b in ((0, 40), (40, 80)):
        assert j[a:b, R_WRIST, 1].mean() > j0[a:b, R_WRIST, 1].mean() + 0.2   # higher in both stages
    assert abs(j[40:, L_WRIST, 1].mean() - j0[40:, L_WRIST, 1].mean()) < 0.05  # the left hand is held
    res, j = _edited(d, "in stage 1, raise the left arm higher")
    assert j[:40, L_WRIST, 1].mean() > j0[:40, L_WRIST, 1].mean() + 0.15
    res, j = _edited(d, "lower the left arm")
    assert res.plan.stages[1].parts == {"left_arm": "a person raises the left hand"}
    assert j[40:, L_WRIST, 1].mean() < j0[40:, L_WRIST, 1].mean() - 0.15
    res, j = _edited(d, "use the other hand")
    assert res.plan.stages[1].text == "a person waves with the right hand"
    assert j[40:, R_WRIST, 1].mean() > j0[40:, R_WRIST, 1].mean() + 0.3
    assert j[40:, L_WRIST, 1].mean() < j0[40:, L_WRIST, 1].mean() - 0.3
    with pytest.raises(EditNotUnderstood, match="highest arm pose"):           # nothing higher than the wave
        _edited(d, "in stage 2, raise the left arm higher")


@pytest.mark.parametrize("seed", [0, 1])
def test_shipped_slower_faster_and_longer_change_speed_and_duration(shipped_parent, seed):
    d, j0 = shipped_parent
    base = _speed(j0[:40])
    assert base > 0.7                                                         # the parent walks in stage 1
    res, j = _edited(d, "make the first stage slower", seed)
    assert len(j) == 100 and _speed(j[:60]) < 0.93 * base                     # 1.5x as long, and slower
    res, j = _edited(d, "make the first stage faster", seed)
    assert len(j) == 67 and _speed(j[:27]) > 1.15 * base
    res, j = _edited(d, "make the first stage last 4 seconds", seed)
    assert len(j) == 120
    walked = lambda x: np.linalg.norm(x[-1, 0, [0, 2]] - x[0, 0, [0, 2]])    # noqa: E731
    assert walked(j[:80]) > 1.6 * walked(j0[:40])                             # longer: it walks further
    res, j = _edited(d, "replace 'walks' with 'runs'", seed)
    assert _speed(j[:40]) > 2 * base


def test_shipped_swap_moves_the_walk_to_the_second_stage(shipped_parent):
    d, j0 = shipped_parent
    res, j = _edited(d, "swap stages 1 and 2")
    assert _speed(j[40:]) > 2 * _speed(j[:40])
    assert j[:40, L_WRIST, 1].mean() > j[40:, L_WRIST, 1].mean() + 0.3         # the wave comes first now


def test_llm_prompt_asks_for_motion_descriptions_and_its_examples_are_valid_plans():
    from motiongen.edit.llm import SYSTEM_PROMPT, extract_json
    assert "Never copy the user's instruction" in SYSTEM_PROMPT
    answers = [extract_json(a.split("\n\n")[0]) for a in SYSTEM_PROMPT.split("Answer: ")[1:]]
    assert len(answers) == 2
    for ans in answers:
        plan = Plan.from_dict(ans)
        texts = [t for st in plan.stages for t in [st.text, *st.parts.values()]]
        assert all(t.startswith("a person ") for t in texts), texts
        assert not any(re.search(r"\b(?:higher|slower|faster|make)\b", t) for t in texts), texts


def test_shipped_model_does_not_kick_as_the_editor_says():
    """The offline editor refuses kicks because the shipped model does not kick: its feet stay under 20 cm."""
    pipe = MotionPipeline.from_pretrained()
    for text in ("a person kicks", "a person kicks forward"):
        for seed in (0, 1):
            [m] = pipe.generate(text, 2.0, seed=seed, steps=10, cleanup=False)
            assert m.joints[:, [10, 11], 1].max() < 0.2, (text, seed)
