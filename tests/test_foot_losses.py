"""The training-side foot terms: eq. 6 with labels from the motion itself, and the contact-channel agreement."""
import numpy as np
import pytest
import torch

from motiongen.diffusion.gaussian import GaussianDiffusion, LossWeights, planted_feet
from motiongen.motion.features import recover_joints_from_features
from motiongen.skeleton import HUMANML3D

FEET = list(HUMANML3D.left_foot_index) + list(HUMANML3D.right_foot_index)
CONTACT = HUMANML3D.layout.slices["foot_contact"]


def _clip(real_samples, sid="000000", frames=60):
    feats = torch.as_tensor(real_samples[sid][0][:frames], dtype=torch.float32)[None]
    mean, std = feats[0].mean(0), feats[0].std(0) + 1e-2
    return feats, mean, std


def test_planted_feet_are_low_and_slow_and_ignore_padding(real_samples):
    feats, _, _ = _clip(real_samples, frames=116)
    joints = recover_joints_from_features(feats, 22)
    mask = torch.ones(1, feats.shape[1], dtype=torch.bool)
    lab = planted_feet(joints, mask, FEET)
    f = joints[0][:, FEET]
    speed = torch.cat([(f[1:, :, [0, 2]] - f[:-1, :, [0, 2]]).norm(dim=-1) * 20, torch.zeros(1, 4)])
    on = lab[0] > 0.5
    assert 0.1 < on.float().mean() < 0.95
    assert (speed[:-1][on[:-1]] < 0.5).all() and ((f[..., 1] - f[..., 1].min(0).values)[on] < 0.05).all()
    # the data's own channels call many more foot-frames "contact", some of them moving fast (docs/feet.md)
    chan = feats[0, :, CONTACT] > 0.5
    assert (chan & ~on).sum() > 0 and speed[:-1][chan[:-1]].max() > 0.5
    # padded frames are never planted and do not set the rest height
    padded = torch.cat([joints, joints[:, -1:].repeat(1, 10, 1, 1) - 1.0], dim=1)
    pmask = torch.cat([mask, torch.zeros(1, 10, dtype=torch.bool)], dim=1)
    lab_p = planted_feet(padded, pmask, FEET)
    assert torch.equal(lab_p[:, :-11], lab[:, :-1]) and lab_p[:, -10:].sum() == 0


def test_motion_labels_and_contact_loss_on_a_tiny_model(real_samples):
    feats, mean, std = _clip(real_samples)
    x0 = ((feats - mean) / std).repeat(2, 1, 1)
    mask = torch.ones(2, x0.shape[1], dtype=torch.bool)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(263, 263)

        def forward(self, x, t, c, m):
            return x + self.l(x)

    torch.manual_seed(0)
    net, d = Tiny(), GaussianDiffusion()
    w = LossWeights(1.0, 0.0, 1.0, 1.0, contact=1.0, foot_labels="motion")
    out = d.training_losses(net, x0, mask, None, weights=w, mean=mean, std=std,
                            generator=torch.Generator().manual_seed(0))
    for k in ("simple", "foot", "vel", "contact"):
        assert torch.isfinite(out[k]) and out[k] > 0
    assert torch.isclose(out["loss"], out["simple"] + out["foot"] + out["vel"] + out["contact"])
    out["contact"].backward(retain_graph=True)
    assert net.l.weight.grad.abs().sum() > 0                         # the agreement term reaches the weights
    net.zero_grad()
    out["foot"].backward()
    assert net.l.weight.grad.abs().sum() > 0

    class Fixed(torch.nn.Module):
        def __init__(self, o):
            super().__init__()
            self.o = o

        def forward(self, x, t, c, m):
            return self.o

    # the exact motion: its own channels disagree with its planted feet, so L_contact > 0 ...
    exact = d.training_losses(Fixed(x0), x0, mask, None, weights=w, mean=mean, std=std)
    assert exact["contact"] > 0.01
    # ... and channels that say what the feet do make it vanish
    joints = recover_joints_from_features(x0 * std + mean, 22)
    agree = x0.clone()
    agree[..., CONTACT] = (planted_feet(joints, mask, FEET) - mean[CONTACT]) / std[CONTACT]
    assert d.training_losses(Fixed(agree), x0, mask, None, weights=w, mean=mean, std=std)["contact"] < 1e-8
    # with the paper's labels the foot term differs (it stills feet the channels call planted)
    paper = d.training_losses(Fixed(agree), x0, mask, None, weights=LossWeights(1.0, 0.0, 1.0, 0.0), mean=mean,
                              std=std)
    ours = d.training_losses(Fixed(agree), x0, mask, None, weights=LossWeights(1.0, 0.0, 1.0, 0.0,
                                                                                foot_labels="motion"),
                             mean=mean, std=std)
    assert not torch.isclose(paper["foot"], ours["foot"])


def test_foot_labels_setting_is_checked(tmp_path):
    with pytest.raises(ValueError, match="foot_labels"):
        LossWeights(foot_labels="height")
    from motiongen.train.trainer import TrainError, load_train_config
    cfg = tmp_path / "c.toml"
    cfg.write_text('foot_labels = "height"\n')
    with pytest.raises(TrainError, match="foot_labels"):
        load_train_config(cfg)
    cfg.write_text('foot_labels = "motion"\nloss_contact = 2.0\nloss_foot = 1.0\n')
    c = load_train_config(cfg)
    assert c.loss_weights() == LossWeights(1.0, 0.0, 1.0, 0.0, 2.0, "motion")
    assert np.isfinite(c.loss_contact)


@pytest.mark.slow
def test_a_tiny_training_run_with_the_foot_switch_moves_the_weights(hml_folder, tmp_path):
    """The trainer passes the switch on (3 steps of a tiny model): the loss is finite and the weights change."""
    from safetensors.torch import load_file

    from motiongen.train.trainer import load_train_config, train
    base = dict(model="baseline", model_config={"latent_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 32},
                data=str(hml_folder), steps=3, batch_size=4, warmup_steps=1, checkpoint_every=3, log_every=1,
                lr=1e-3, seed=1, device="cpu", loss_foot=1.0, loss_vel=1.0, loss_contact=1.0, foot_labels="motion")
    run = train(load_train_config(None, {**base, "out": str(tmp_path / "feet")}), progress=False)
    first = train(load_train_config(None, {**base, "out": str(tmp_path / "one"), "steps": 1}), progress=False)
    rows = (run / "log.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and all(np.isfinite(float(r.split(",")[1])) for r in rows)
    a, b = load_file(str(run / "model.safetensors")), load_file(str(first / "model.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)
    import json
    recorded = json.loads((run / "train_config.json").read_text())
    assert recorded["foot_labels"] == "motion" and recorded["loss_contact"] == 1.0
