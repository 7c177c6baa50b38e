"""GAN pieces: UNetDiscriminatorSN against the BasicSR fixture, GANLoss by hand, the training-pair pool."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from swinsr.archs import ARCH_REGISTRY
from swinsr.archs.discriminator import UNetDiscriminatorSN
from swinsr.losses import GANLoss, build_loss
from swinsr.errors import OptionError
from swinsr.train.models.realesrgan_model import TrainingPairPool, iteration_generator, paired_random_crop

SHARED = Path(os.environ.get("SWINSR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
FIXTURE = SHARED / "fixtures" / "degradations" / "unet_discriminator_sn"


def _fixture() -> tuple[dict, dict, dict]:
    if not FIXTURE.with_suffix(".pth").is_file():
        pytest.skip(f"shared fixtures not found at {FIXTURE.parent} (set SWINSR_SHARED)")
    meta = json.loads(FIXTURE.with_suffix(".json").read_text())
    ckpt = torch.load(FIXTURE.with_suffix(".pth"), weights_only=True)
    io = torch.load(FIXTURE.with_suffix(".io.pt"), weights_only=True)
    return meta, ckpt[meta["checkpoint_key"]], io


def test_discriminator_reproduces_the_reference_in_float64():
    meta, sd, io = _fixture()
    net = ARCH_REGISTRY.build("UNetDiscriminatorSN", **meta["kwargs"])
    assert sorted(net.state_dict()) == sorted(sd)  # reference names: a netD file loads as is
    net.load_state_dict(sd, strict=True)
    net = net.double().eval()
    with torch.no_grad():
        out = net(io["input"].double())
    assert out.shape == io["output"].shape
    assert float((out - io["output"]).abs().max()) < 1e-6
    with torch.no_grad():
        out32 = net.float()(io["input"])
    assert float((out32.double() - io["output"]).abs().max()) < 1e-4


def test_spectral_norm_iterates_only_in_training_mode():
    torch.manual_seed(0)
    net = UNetDiscriminatorSN(3, num_feat=4)
    x = torch.rand(1, 3, 16, 16)
    u0 = net.conv1.weight_u.clone()
    net.eval()
    net(x)
    assert torch.equal(net.conv1.weight_u, u0)  # eval: the stored vectors are used as they are
    net.train()
    net(x)
    assert not torch.equal(net.conv1.weight_u, u0)  # train: one power iteration per forward
    # the effective weight has spectral norm ~1 once u/v have converged
    for _ in range(30):
        net(x)
    w = net.conv1.weight_orig.detach().reshape(net.conv1.weight_orig.shape[0], -1)
    sigma = torch.linalg.matrix_norm(w, ord=2)
    assert abs(float(torch.linalg.matrix_norm(net.conv1.weight.detach().reshape_as(w), ord=2)) - 1.0) < 1e-3
    assert float(sigma) != pytest.approx(1.0)


def test_discriminator_without_skips_and_per_pixel_output():
    net = UNetDiscriminatorSN(1, num_feat=4, skip_connection=False).eval()
    assert net(torch.rand(2, 1, 24, 40)).shape == (2, 1, 24, 40)


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


PRED = [-1.5, -0.25, 0.5, 2.0]


@pytest.mark.parametrize(
    "gan_type, real, fake, gen_real",
    [
        # BCE on logits against labels 1 / 0: -log(sigmoid(x)) = softplus(-x), -log(1 - sigmoid(x)) = softplus(x)
        ("vanilla", _mean(_softplus(-v) for v in PRED), _mean(_softplus(v) for v in PRED), _mean(_softplus(-v) for v in PRED)),
        ("lsgan", _mean((v - 1) ** 2 for v in PRED), _mean(v * v for v in PRED), _mean((v - 1) ** 2 for v in PRED)),
        ("wgan", -_mean(PRED), _mean(PRED), -_mean(PRED)),
        ("wgan_softplus", _mean(_softplus(-v) for v in PRED), _mean(_softplus(v) for v in PRED), _mean(_softplus(-v) for v in PRED)),
        ("hinge", _mean(max(0.0, 1 - v) for v in PRED), _mean(max(0.0, 1 + v) for v in PRED), -_mean(PRED)),
    ],
)
def test_gan_loss_values_by_hand(gan_type, real, fake, gen_real):
    pred = torch.tensor(PRED, dtype=torch.float64).view(1, 1, 2, 2)
    loss = build_loss({"type": "GANLoss", "gan_type": gan_type, "loss_weight": 0.1}, "train.gan_opt")
    # the discriminator's loss is never weighted
    assert float(loss(pred, True, is_disc=True)) == pytest.approx(real, rel=1e-12)
    assert float(loss(pred, False, is_disc=True)) == pytest.approx(fake, rel=1e-12)
    # the generator's is, by loss_weight
    assert float(loss(pred, True, is_disc=False)) == pytest.approx(0.1 * gen_real, rel=1e-12)
    if gan_type == "hinge":  # the generator's hinge loss ignores the target
        assert float(loss(pred, False)) == pytest.approx(0.1 * gen_real, rel=1e-12)


def test_gan_loss_label_values():
    pred = torch.tensor([0.3, -0.7], dtype=torch.float64)
    sig = [1 / (1 + math.exp(-v)) for v in pred.tolist()]
    loss = GANLoss("vanilla", real_label_val=0.9, fake_label_val=0.1)
    want = _mean(-(0.9 * math.log(s) + 0.1 * math.log(1 - s)) for s in sig)
    assert float(loss(pred, True, is_disc=True)) == pytest.approx(want, rel=1e-12)
    ls = GANLoss("lsgan", real_label_val=0.9, fake_label_val=0.1)
    assert float(ls(pred, False, is_disc=True)) == pytest.approx(_mean((v - 0.1) ** 2 for v in pred.tolist()), rel=1e-12)


def test_gan_loss_bad_type_names_the_option():
    with pytest.raises(OptionError, match=r"^train.gan_opt: gan_type: 'ragan' is not supported; allowed: vanilla"):
        build_loss({"type": "GANLoss", "gan_type": "ragan"}, "train.gan_opt")


def test_training_pair_pool_fills_then_swaps():
    pool = TrainingPairPool(4)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.full((2, 1, 2, 2), float(i)), torch.full((2, 1, 4, 4), float(i))) for i in range(4)]
    for i in (0, 1):  # filling: trained on as is
        lq, gt = pool(*batches[i], g)
        assert torch.equal(lq, batches[i][0]) and torch.equal(gt, batches[i][1])
    assert pool.ptr == 4
    lq, gt = pool(*batches[2], g)  # full: 2 old pairs out, the new batch in
    assert set(lq.flatten().tolist()) <= {0.0, 1.0}
    assert torch.equal(lq[:, :, :1, :1].flatten(), gt[:, :, :1, :1].flatten())  # pairs stay pairs
    assert sorted(pool.lq[:, 0, 0, 0].tolist()).count(2.0) == 2
    # the state round-trips exactly
    state = pool.state_dict()
    other = TrainingPairPool(4)
    other.load_state_dict(state, torch.device("cpu"))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a, b = pool(*batches[3], g1), other(*batches[3], g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_iteration_generator_and_paired_crop():
    d = torch.device("cpu")
    a = torch.rand(3, generator=iteration_generator(7, 0, 12, d))
    assert torch.equal(a, torch.rand(3, generator=iteration_generator(7, 0, 12, d)))
    assert not torch.equal(a, torch.rand(3, generator=iteration_generator(7, 0, 13, d)))
    assert not torch.equal(a, torch.rand(3, generator=iteration_generator(7, 1, 12, d)))
    gt = torch.arange(2 * 16 * 16, dtype=torch.float32).view(2, 1, 16, 16)
    lq = gt[..., ::4, ::4]
    (gt_c,), lq_c = paired_random_crop([gt], lq, 8, 4, iteration_generator(0, 0, 1, d))
    assert gt_c.shape == (2, 1, 8, 8) and lq_c.shape == (2, 1, 2, 2)
    assert torch.equal(gt_c[..., ::4, ::4], lq_c)  # the same place on both sides
    with pytest.raises(OptionError, match="^gt_size: 32 is larger"):
        paired_random_crop([gt], lq, 32, 4, iteration_generator(0, 0, 1, d))
