import numpy as np
import pytest

from fer_edge.train.augment import Jitter, augment_sequences, mixup


def test_all_frames_of_a_sequence_get_the_same_transform():
    rng = np.random.default_rng(0)
    frame = rng.random((48, 48, 1), dtype=np.float32)
    frames = np.stack([np.stack([frame] * 3)] * 8)  # 8 sequences of 3 identical frames
    out = augment_sequences(frames, np.random.default_rng(1))
    assert out.shape == frames.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    np.testing.assert_array_equal(out[:, 1], out[:, 2])
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.allclose(out[0], out[1])  # different sequences, different transforms
    assert np.abs(out - frames).mean() > 0.01


def test_no_jitter_is_the_identity():
    frames = np.random.default_rng(0).random((2, 3, 48, 48, 1), dtype=np.float32)
    still = Jitter(flip=False, rotation_degrees=0, shift=0, scale=0, brightness=0, contrast=0)
    np.testing.assert_allclose(augment_sequences(frames, np.random.default_rng(0), still), frames, atol=1e-6)


def test_mirror_odd_frames_mirrors_every_other_frame_from_a_phase_drawn_per_sequence():
    from fer_edge.preprocess import mirror_odd_frames

    frames = np.random.default_rng(0).random((64, 3, 48, 48, 1), dtype=np.float32)
    still = Jitter(flip=False, rotation_degrees=0, shift=0, scale=0, brightness=0, contrast=0, mirror_odd_frames=True)
    out = augment_sequences(frames, np.random.default_rng(0), still)
    phases = []
    for shown, sequence in zip(out, frames, strict=True):
        matches = [np.allclose(shown, mirror_odd_frames(sequence, start), atol=1e-6) for start in (0, 1)]
        assert sum(matches) == 1  # exactly one phase: the middle frame mirrored, or the outer two
        phases.append(matches.index(True))
    assert 20 < sum(phases) < 44  # both phases, about half each


def test_sensor_noise_is_drawn_afresh_per_frame_with_a_spread_up_to_the_setting():
    frames = np.full((64, 3, 48, 48, 1), 0.5, np.float32)  # mid-grey: no pixel is clipped by noise this small
    noisy = Jitter(flip=False, rotation_degrees=0, shift=0, scale=0, brightness=0, contrast=0, noise=0.05)
    out = augment_sequences(frames, np.random.default_rng(0), noisy)
    spread = (out - frames).std(axis=(1, 2, 3, 4))  # one standard deviation per sequence
    assert spread.max() <= 0.05 * 1.05 and spread.min() < 0.01 < 0.04 < spread.max()  # drawn in [0, 0.05]
    assert np.abs(out.mean() - 0.5) < 1e-3  # zero-mean
    assert not np.allclose(out[:, 0], out[:, 1])  # frames differ: noise is not part of the shared transform


def test_mixup_blends_each_sequence_with_a_partner_keeping_its_own_share_the_larger():
    # Sequence i is constant i on every frame and pixel, so a blend's value tells both partners and the share.
    count, classes = 16, 4
    frames = np.stack([np.full((3, 48, 48, 1), i, np.float32) for i in range(count)])
    labels = np.arange(count) % classes
    targets = np.eye(classes, dtype=np.float32)[labels]
    weights = np.linspace(0.5, 2.0, count).astype(np.float32)
    mixed, mixed_targets, mixed_weights = mixup(frames, targets, weights, np.random.default_rng(3), alpha=0.2)

    assert mixed.shape == frames.shape and mixed.dtype == np.float32
    np.testing.assert_array_equal(mixed, mixed[:, :1].repeat(3, axis=1))  # the same blend on all 3 frames
    np.testing.assert_allclose(mixed_targets.sum(axis=1), 1.0, rtol=1e-6)
    share = mixed_targets[np.arange(count), labels]
    assert (share >= 0.5 - 1e-6).all() and (share < 1).any()  # own label keeps the larger part; some do mix
    partner_value = (mixed[:, 0, 0, 0, 0] - share * np.arange(count)) / np.where(share < 1, 1 - share, 1)
    mixing = share < 1 - 1e-3
    partners = np.rint(partner_value[mixing]).astype(int)
    np.testing.assert_allclose(partner_value[mixing], partners, atol=1e-2)
    np.testing.assert_allclose(
        mixed_weights[mixing], share[mixing] * weights[mixing] + (1 - share[mixing]) * weights[partners], rtol=1e-5
    )


def test_recipes_mirror_odd_frames_with_their_augmentation_and_never_in_stage_one():
    from fer_edge.errors import UsageError
    from fer_edge.train.recipes import get_recipe

    wild = get_recipe("wild", mirror_odd_frames=True)
    assert wild.jitter.mirror_odd_frames and not wild.pretrain_jitter.mirror_odd_frames  # stage 1 sees single stills
    assert not get_recipe("wild").jitter.mirror_odd_frames
    with pytest.raises(UsageError, match="mirror_odd_frames needs augment"):
        get_recipe("seed", mirror_odd_frames=True)
