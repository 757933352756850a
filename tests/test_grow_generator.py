"""Growing a trained generator to twice its resolution (anonymizer.generator.grow): the grown
network computes the trained one's output at step 0, trains from there, and bad pairs are
refused with a reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_train_data import build_face_shards
from test_train_resume import tiny_config

from anonymizer.generator import export_generator, load_generator
from anonymizer.generator.grow import GrowError, check_growable, grow_discriminator_state, grow_state_dict
from anonymizer.generator.networks import Discriminator, Generator, NetworkConfig, half_condition
from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, read_checkpoint
from anonymizer.training.trainer import TrainError, _build_state, init_weights, pick_device

SMALL = NetworkConfig(resolution=32, base_channels=8, max_channels=32, z_dim=8, w_dim=16, hole="outline")
LARGE = dataclasses.replace(SMALL, resolution=64, base_channels=4, top_channels=12, half_skip=True)


def _trained_small(cls=Generator, seed: int = 3):
    """A small network with non-trivial weights everywhere (as if trained)."""
    torch.manual_seed(seed)
    net = cls(SMALL)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def _condition(n: int = 3) -> torch.Tensor:
    torch.manual_seed(0)
    condition = torch.cat([torch.rand(n, 3, 64, 64) * 2 - 1, (torch.rand(n, 1, 64, 64) > 0.3).float()], 1)
    return torch.cat([condition, (torch.rand(n, 7, 64, 64) > 0.999).float()], 1)


@pytest.mark.parametrize("top_upsample", ["nearest", "bilinear"])
def test_the_grown_generator_outputs_the_trained_one_upsampled(top_upsample):
    small = _trained_small()
    grown = Generator(dataclasses.replace(LARGE, top_upsample=top_upsample))
    grown.load_state_dict(grow_state_dict(small.state_dict(), SMALL, LARGE))
    condition = _condition()
    z = torch.randn(3, SMALL.z_dim)
    with torch.no_grad():
        out = grown(condition, z)
        expected = F.interpolate(small(half_condition(condition), z), scale_factor=2, mode="bilinear")
    assert out.shape == (3, 3, 64, 64)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    # The new level is live: once its RGB layer is non-zero, the output changes.
    with torch.no_grad():
        grown.to_rgb.weight.fill_(0.01)
        assert not torch.allclose(grown(condition, z), expected, atol=1e-3)


def test_the_grown_discriminator_scores_the_pair_at_half_resolution():
    small = _trained_small(Discriminator)
    grown = Discriminator(LARGE)
    grown.load_state_dict(grow_discriminator_state(small.state_dict(), SMALL, LARGE))
    condition, image = _condition(), torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = small(F.avg_pool2d(image, 2), half_condition(condition))
        torch.testing.assert_close(grown(image, condition), expected, atol=1e-5, rtol=1e-4)
        grown.blocks[0][2].weight.fill_(0.01)  # the new level, once non-zero, changes the score
        assert not torch.allclose(grown(image, condition), expected, atol=1e-3)
    with pytest.raises(GrowError, match="only to 64 px"):
        grow_discriminator_state(small.state_dict(), SMALL, dataclasses.replace(LARGE, resolution=128))


def test_the_new_level_has_its_own_weights_and_the_rest_is_the_trained_network():
    small = _trained_small()
    state = grow_state_dict(small.state_dict(), SMALL, LARGE)
    trained = small.state_dict()
    assert torch.equal(state["stem_half.weight"], trained["stem.weight"])
    assert torch.equal(state["down.1.weight"], trained["down.0.weight"])
    assert torch.equal(state["up.0.conv.weight"], trained["up.0.conv.weight"])
    assert torch.equal(state["to_rgb_half.bias"], trained["to_rgb.bias"])
    assert state["stem.weight"].shape == (12, 11, 3, 3) and state["stem.weight"].abs().sum() > 0
    assert not state["down.0.weight"].any() and not state["to_rgb.weight"].any()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"half_skip": False}, "half_skip"),
        ({"resolution": 128}, "only to 64 px"),
        ({"base_channels": 8}, "channel plan"),
        ({"hole": "box"}, "network.hole differs"),
        ({"z_dim": 4}, "network.z_dim differs"),
    ],
)
def test_pairs_that_cannot_grow_say_why(change, match):
    with pytest.raises(GrowError, match=match):
        check_growable(SMALL, dataclasses.replace(LARGE, **change))


def test_bad_top_channels_is_a_config_error():
    with pytest.raises(ValueError, match="top_channels"):
        dataclasses.replace(LARGE, top_channels=2)
    with pytest.raises(ValueError, match="top_upsample"):
        dataclasses.replace(LARGE, top_upsample="bicubic")
    with pytest.raises(GrowError, match="top_upsample"):
        check_growable(dataclasses.replace(SMALL, top_upsample="bilinear"), LARGE)


def test_top_upsample_changes_only_the_top_level():
    """Nearest features into a level are 2x2 blocks (what a narrow top level drew as a grid);
    ``top_upsample: bilinear`` smooths the top level's only, so the levels taken from the trained
    model see what they were trained on, and a nearest run's weights load unchanged."""
    state = grow_state_dict(_trained_small().state_dict(), SMALL, LARGE)
    condition, z = _condition(), torch.randn(3, SMALL.z_dim)
    for mode in ("nearest", "bilinear"):
        net = Generator(dataclasses.replace(LARGE, top_upsample=mode))
        net.load_state_dict(state)
        seen = {}
        for level in (-2, -1):
            net.up[level].register_forward_pre_hook(
                lambda m, args, level=level, seen=seen: seen.update({level: args[0]})
            )
        with torch.no_grad():
            net(condition, z)
        for level, inputs in seen.items():
            features = inputs[:, : net.up[level].conv.in_channels - 8 - net.config.channels()[-level - 1]]
            blocky = torch.equal(features[..., 0::2, :], features[..., 1::2, :])
            assert blocky == (mode == "nearest" or level == -2), (mode, level)


def test_init_from_a_half_resolution_run_grows_and_trains(tmp_path):
    """fdf train --init-from with a 32 px run and a 64 px half_skip config: the run starts from
    the grown weights (its exported EMA at step 0 generates the 32 px model's faces, upsampled)
    and trains; a config the run cannot grow into is a TrainError naming the reason."""
    small_cfg = tiny_config(build_face_shards(tmp_path / "ds32", resolution=32))
    small_cfg["network"].update(base_channels=8)
    small_cfg["steps"] = 2
    train(config_from_dict(small_cfg), tmp_path / "small")
    source = latest_checkpoint(tmp_path / "small")

    data64 = build_face_shards(tmp_path / "ds64", resolution=64)
    large_cfg = tiny_config(data64)
    large_cfg["network"].update(resolution=64, base_channels=4, max_channels=16, top_channels=6, half_skip=True)
    large_cfg.update(steps=1, checkpoint_every=1)
    state = _build_state(config_from_dict(large_cfg), pick_device("cpu"))
    init_weights(state, source)  # the checkpoint's three networks, grown
    tensors, _ = read_checkpoint(source)
    for name, module in (("generator", state.generator), ("generator_ema", state.ema)):
        assert torch.equal(module.state_dict()["down.1.weight"], tensors[f"{name}.down.0.weight"])
    assert torch.equal(state.discriminator.state_dict()["stem_half.weight"], tensors["discriminator.stem.weight"])
    assert torch.equal(
        state.discriminator.state_dict()["blocks.1.0.weight"], tensors["discriminator.blocks.0.0.weight"]
    )
    summary = train(config_from_dict(large_cfg), tmp_path / "large", init_from=source)
    assert (summary.start_step, summary.end_step) == (0, 1)
    grown = load_generator(export_generator(tmp_path / "large", tmp_path / "grown.safetensors"))
    assert grown.resolution == 64 and grown.generator.config.half_skip
    crops = np.full((1, 64, 64, 3), 120, np.uint8)
    out = grown.generate(crops, np.array([[16, 16, 48, 48]], np.float32), np.zeros((1, 7, 3), np.float32), [0])
    assert out.shape == crops.shape and (out[0, 20:44, 20:44] != 120).any()  # the hole was filled

    bad = dict(large_cfg, network={**large_cfg["network"], "base_channels": 4, "max_channels": 32})
    with pytest.raises(TrainError, match="cannot grow.*channel plan"):
        train(config_from_dict(bad), tmp_path / "bad", init_from=source)
