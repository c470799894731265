"""An edit backend that asks any OpenAI-compatible chat-completions server (OpenAI, llama.cpp's server, Ollama,
vLLM ...) to rewrite a plan (FineMoGen sec. 3.4). Standard library only (urllib).

The prompt carries the plan format and two worked examples; the answer must be the revised plan as JSON. An answer
that is not JSON or breaks the plan format is sent back once with the validation error; a second failure, an HTTP
error or a time-out raises :class:`LLMEditError` with the reason.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request

from ..plan import PART_NAMES, Plan, PlanError

__all__ = ["OpenAIChatEditor", "LLMEditError", "SYSTEM_PROMPT", "check_llm_url"]


class LLMEditError(ValueError):
    pass


MAX_RESPONSE_BYTES = 1 << 20        # a plan is a few kB; anything near a MiB is not an answer


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the API key must go only to the server the user named."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused (the API key is only "
                                                         f"sent to the server you named)", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirect)


SYSTEM_PROMPT = f"""You edit fine-grained motion plans for a text-to-motion model.
A plan is JSON: {{"stages": [{{"text": "...", "frames": [start, end], "parts": {{"<part>": "..."}}}}, ...]}}
- stages are consecutive time segments at 20 frames per second; frames are [start, end) integers, not overlapping;
- "text" describes the whole body in that stage; "parts" (optional) describes single body parts, with part names
  from: {", ".join(PART_NAMES)};
- every text is a plain description of the motion in the style of motion-capture captions, third person, present
  tense, starting with "a person": "a person walks forward slowly", "a person raises the left hand", "a person
  waves with the right hand". Never copy the user's instruction into a text ("raise the arm higher", "make it
  slower" are requests, not motions): write the motion the body should make instead;
- slower or faster motion is said in the text ("slowly", "energetically") as well as by the frames: a longer
  stage with the same text moves at the same speed;
- keep everything the user did not ask to change exactly as it is (same texts, same frames).
Answer with the complete revised plan as one JSON object and nothing else.

Example 1. Plan: {{"stages": [{{"text": "a person walks forward", "frames": [0, 60]}}]}}
Instruction: add a jump at the end
Answer: {{"stages": [{{"text": "a person walks forward", "frames": [0, 60]}}, {{"text": "a person jumps", "frames": [60, 100]}}]}}

Example 2. Plan: {{"stages": [{{"text": "a person walks forward", "frames": [0, 40]}}, {{"text": "a person bows", "frames": [40, 80]}}]}}
Instruction: raise the right arm in the first stage and make the walk slower
Answer: {{"stages": [{{"text": "a person walks forward slowly", "frames": [0, 60],
  "parts": {{"right_arm": "a person raises the right hand"}}}}, {{"text": "a person bows", "frames": [60, 100]}}]}}
"""


def check_llm_url(url: str) -> str:
    """The LLM server's base URL must be http:// or https:// with a host (no file://, ftp://, data: ...)."""
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port                          # raises ValueError for a port that is not a number
    except ValueError as e:
        raise LLMEditError(f"--llm-url '{url[:80]}' is not a URL: {e}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise LLMEditError(f"--llm-url '{url[:80]}': expected an http:// or https:// address of the LLM server "
                           f"(e.g. http://127.0.0.1:8080/v1)")
    return url


def extract_json(text: str):
    """The first JSON object in an answer (code fences and chatter around it are tolerated)."""
    fence = re.search(r"```(?:json)?\s*(\{.*?\})\s*```", text, re.DOTALL)
    if fence:
        text = fence.group(1)
    start = text.find("{")
    if start < 0:
        raise ValueError("the answer contains no JSON object")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj


class OpenAIChatEditor:
    name = "openai"

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, temperature: float = 0.0):
        self.base_url = (base_url or os.environ.get("MOTIONGEN_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
                         or "").rstrip("/")
        if not self.base_url:
            raise LLMEditError("the openai backend needs a server: pass --llm-url (e.g. http://127.0.0.1:8080/v1 "
                               "for llama.cpp's server) or set MOTIONGEN_LLM_BASE_URL")
        check_llm_url(self.base_url)
        self.model = model or os.environ.get("MOTIONGEN_LLM_MODEL") or "default"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise LLMEditError(f"--llm-timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout, self.temperature = float(timeout), temperature

    def _chat(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": self.temperature}).encode()
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})})
        deadline = time.monotonic() + self.timeout          # for the whole exchange, not per read
        try:
            with _OPENER.open(req, timeout=self.timeout) as resp:
                chunks, size = [], 0
                while True:
                    if time.monotonic() > deadline:
                        raise TimeoutError("deadline")
                    chunk = resp.read1(65536)        # what has arrived, so the deadline is checked often
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise LLMEditError(f"the LLM server at {self.base_url} sent more than "
                                           f"{MAX_RESPONSE_BYTES >> 20} MiB; that is not a plan")
                    chunks.append(chunk)
            payload = json.loads(b"".join(chunks).decode("utf-8", errors="replace"))
        except LLMEditError:
            raise
        except (socket.timeout, TimeoutError) as e:
            raise LLMEditError(f"the LLM server at {self.base_url} did not answer within {self.timeout:g} s") from e
        except urllib.error.HTTPError as e:
            try:
                detail = e.read(200).decode(errors="replace")      # at most 200 bytes of an error page
            except (OSError, ValueError, AttributeError):
                detail = ""
            raise LLMEditError(f"the LLM server at {self.base_url} answered HTTP {e.code} ({e.msg}): {detail}"
                               ) from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise LLMEditError(f"the LLM server at {self.base_url} did not answer within {self.timeout:g} s"
                                   ) from e
            raise LLMEditError(f"cannot reach the LLM server at {self.base_url}: {e.reason}") from e
        except (json.JSONDecodeError, ValueError, RecursionError):
            raise LLMEditError(f"the LLM server at {self.base_url} sent a response that is not usable JSON") from None
        except (http.client.HTTPException, ConnectionError, OSError) as e:
            raise LLMEditError(f"the connection to the LLM server at {self.base_url} failed: "
                               f"{type(e).__name__} {str(e)[:200]}") from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as e:
            raise LLMEditError("the LLM server's response has no choices[0].message.content") from e
        if not isinstance(content, str):
            raise LLMEditError(f"the LLM server's choices[0].message.content is {type(content).__name__}, not text")
        return content

    def revise(self, plan: Plan, instruction: str) -> dict:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"Plan: {json.dumps(plan.to_dict())}\nInstruction: {instruction}"}]
        error = ""
        for _attempt in range(2):
            answer = self._chat(messages)        # server trouble (LLMEditError) is final: no retry
            try:
                data = extract_json(answer)
                Plan.from_dict(data)
                return data
            except (ValueError, PlanError, RecursionError) as e:
                error = str(e)[:300] if not isinstance(e, RecursionError) else "the JSON is nested too deeply"
                messages += [{"role": "assistant", "content": answer},
                             {"role": "user", "content": f"That answer is not a valid plan: {error}. Answer again "
                                                         "with the complete revised plan as one JSON object only."}]
        raise LLMEditError(f"the LLM gave no valid plan after a retry; last problem: {error}")
