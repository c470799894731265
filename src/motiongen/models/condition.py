"""What a denoiser is conditioned on: encoded text, optionally fine-grained (stages x body parts).

A :class:`MotionCondition` holds ``B * S * G`` encoded texts in one :class:`TextFeatures` batch, ordered
(sample, stage, group): ``S`` stages and ``G`` text groups per stage, where group 0 is the stage's overall
sentence and groups 1..P (when ``G = 1 + P``) are the per-body-part texts of FineMoGen (sec. 3.3).
A plain sentence is the case ``S = 1, G = 1``. ``stage_bounds`` (B, S, 2) gives each stage's [start, end)
frames; with one stage it may be omitted (the stage spans the motion). ``transitions`` (B, K) are further frames
where the motion changes (the join of a window of long motion to the frames before it; -1 pads): denoisers do not
read them, the sampler's transition easing does (:mod:`motiongen.diffusion.bandlimit`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..text.encoders import TextFeatures

__all__ = ["MotionCondition", "pad_transitions"]


def pad_transitions(rows: list[torch.Tensor]) -> torch.Tensor:
    """Stack (b_i, k_i) long tensors of frames into one (sum b_i, max k_i) tensor, padded with -1 (no frame)."""
    K = max(r.shape[1] for r in rows)
    return torch.cat([torch.nn.functional.pad(r.long().cpu(), (0, K - r.shape[1]), value=-1) for r in rows])


@dataclass
class MotionCondition:
    text: TextFeatures
    num_stages: int = 1
    num_groups: int = 1
    stage_bounds: torch.Tensor | None = None   # (B, S, 2) long, [start, end)
    stage_valid: torch.Tensor | None = None    # (B, S) bool; stages beyond a sample's plan are padding
    transitions: torch.Tensor | None = None    # (B, K) long frames where the motion changes, -1 = none
    # Denoisers may keep work that depends only on the text here (e.g. FineMoGen's text transformer) so that the
    # many denoising steps of one sampling run do it once. Never used in training mode.
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def batch_size(self) -> int:
        return len(self.text) // (self.num_stages * self.num_groups)

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.batch_size, self.num_stages, self.num_groups, *x.shape[1:])

    def grouped(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """tokens (B, S, G, L, D), mask (B, S, G, L), pooled (B, S, G, D)."""
        return self._view(self.text.tokens), self._view(self.text.mask), self._view(self.text.pooled)

    def sentence(self) -> TextFeatures:
        """The first stage's overall sentence for each sample: what single-sentence denoisers read."""
        tok, m, pooled = self.grouped()
        return TextFeatures(tok[:, 0, 0], m[:, 0, 0], pooled[:, 0, 0])

    def bounds(self, num_frames: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, S, 2) stage bounds and (B, S) validity, defaulting to one stage over all frames."""
        B = self.batch_size
        if self.stage_bounds is None:
            b = torch.tensor([0, num_frames], device=device).expand(B, self.num_stages, 2).clone()
        else:
            b = self.stage_bounds.to(device)
        v = torch.ones(B, self.num_stages, dtype=torch.bool, device=device) if self.stage_valid is None \
            else self.stage_valid.to(device)
        return b, v

    def to(self, device=None, dtype=None) -> MotionCondition:
        return MotionCondition(self.text.to(device, dtype), self.num_stages, self.num_groups,
                               None if self.stage_bounds is None else self.stage_bounds.to(device),
                               None if self.stage_valid is None else self.stage_valid.to(device),
                               None if self.transitions is None else self.transitions.to(device))

    def dropped(self, drop: torch.Tensor) -> MotionCondition:
        """Null text for the samples where ``drop`` (B,) is True (classifier-free guidance, 10% in training)."""
        rows = drop.bool().repeat_interleave(self.num_stages * self.num_groups)
        return MotionCondition(self.text.dropped(rows), self.num_stages, self.num_groups,
                               self.stage_bounds, self.stage_valid, self.transitions)

    def null(self) -> MotionCondition:
        return self.dropped(torch.ones(self.batch_size, dtype=torch.bool))

    @staticmethod
    def cat(items: list[MotionCondition]) -> MotionCondition:
        s, g = items[0].num_stages, items[0].num_groups
        if any(it.num_stages != s or it.num_groups != g for it in items):
            raise ValueError("cannot batch conditions with different stage/group counts")
        has_b = [it.stage_bounds is not None for it in items]
        bounds = torch.cat([it.stage_bounds for it in items]) if all(has_b) else None
        if any(has_b) and not all(has_b):
            raise ValueError("cannot batch conditions where only some have stage bounds")
        valid = None
        if any(it.stage_valid is not None for it in items):
            valid = torch.cat([it.stage_valid if it.stage_valid is not None else
                               torch.ones(it.batch_size, s, dtype=torch.bool) for it in items])
        transitions = None
        if any(it.transitions is not None for it in items):
            transitions = pad_transitions([it.transitions if it.transitions is not None else
                                           torch.zeros(it.batch_size, 0, dtype=torch.long) for it in items])
        return MotionCondition(TextFeatures.cat([it.text for it in items]), s, g, bounds, valid, transitions)
