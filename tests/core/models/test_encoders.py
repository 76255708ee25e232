import pytest
import torch
from torchvision.models.video import r2plus1d_18

from core.models.encoders import AUDIO_ENCODERS, VIDEO_ENCODERS, ProjectionHead, build_encoders


def _grad_flows_everywhere(model: torch.nn.Module, loss: torch.Tensor) -> list[str]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
            or p.grad.abs().sum() == 0]


@pytest.fixture(scope="module")
def paper() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_encoders("r2plus1d_18", "resnet9")


def test_paper_encoders_give_512d_features_and_unit_norm_embeddings(paper):
    video, audio = torch.randn(2, 3, 8, 64, 64), torch.randn(2, 1, 40, 100)
    assert paper.feature_dim == 512
    f_v, f_a = paper.video(video), paper.audio(audio)
    assert f_v.shape == f_a.shape == (2, 512)
    z_v, z_a = paper.video_head(f_v), paper.audio_head(f_a)
    assert z_v.shape == z_a.shape == (2, 256)
    torch.testing.assert_close(z_v.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(z_a.norm(dim=1), torch.ones(2))
    assert _grad_flows_everywhere(paper, (z_v * z_a).sum()) == []


def test_video_encoder_is_torchvisions_r2plus1d_18_without_fc(paper):
    reference = r2plus1d_18(weights=None)
    expected = sum(p.numel() for p in reference.parameters()) - sum(p.numel() for p in reference.fc.parameters())
    assert sum(p.numel() for p in paper.video.parameters()) == expected
    ours = {k: v.shape for k, v in paper.video.net.state_dict().items()}
    theirs = {k: v.shape for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    assert ours == theirs


def test_audio_resnet9_is_a_one_block_per_stage_resnet_on_one_channel(paper):
    net = paper.audio.net
    assert net.conv1.in_channels == 1
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == [1, 1, 1, 1]
    assert [getattr(net, f"layer{i}")[0].conv2.out_channels for i in range(1, 5)] == [64, 128, 256, 512]


@pytest.mark.parametrize("feature_dim", [128, 512])
def test_tiny_encoders_share_the_interface(feature_dim):
    torch.manual_seed(0)
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=feature_dim, width=16)
    video, audio = torch.randn(4, 3, 8, 32, 32), torch.randn(4, 1, 40, 100)
    assert model.video(video).shape == (4, feature_dim)
    assert model.audio(audio).shape == (4, feature_dim)
    z_v, z_a = model(video, audio)
    assert z_v.shape == z_a.shape == (4, 256)
    torch.testing.assert_close(z_a.norm(dim=1), torch.ones(4))
    assert _grad_flows_everywhere(model, (z_v @ z_a.T).sum()) == []


def test_tiny_encoders_accept_other_clip_sizes_and_channels_last():
    torch.manual_seed(0)
    model = build_encoders("tiny_video", "tiny_audio", feature_dim=64, channels_last=True)
    assert model.video(torch.randn(2, 3, 16, 48, 40)).shape == (2, 64)
    assert model.audio(torch.randn(2, 1, 40, 99)).shape == (2, 64)
    assert model.video.net[1][0].weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_mixed_paper_and_tiny_encoders():
    model = build_encoders("tiny_video", "resnet9")
    assert model.video(torch.randn(2, 3, 8, 32, 32)).shape == (2, 512)


def test_head_output_is_unit_norm_even_for_large_inputs():
    head = ProjectionHead(32, 512, 256)
    z = head(1e3 * torch.randn(8, 32))
    assert z.shape == (8, 256)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(8))


def test_registry_rejects_unknown_names_listing_known_ones():
    with pytest.raises(ValueError, match="known video encoders: r2plus1d_18, tiny_video"):
        build_encoders(video="resnet3d_50")
    with pytest.raises(ValueError, match="known audio encoders: resnet9, tiny_audio"):
        build_encoders(audio="vggish")
    assert set(VIDEO_ENCODERS) == {"r2plus1d_18", "tiny_video"}
    assert set(AUDIO_ENCODERS) == {"resnet9", "tiny_audio"}


def test_paper_encoders_reject_a_different_feature_dim():
    with pytest.raises(ValueError, match="fixed feature_dim of 512"):
        build_encoders("r2plus1d_18", "tiny_audio", feature_dim=128)
