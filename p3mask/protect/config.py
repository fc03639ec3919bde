"""Configuration of Chameleon mask learning: one frozen dataclass and its named presets.

The presets trade protection strength against visibility by what people see: each fixes the
SSIMULACRA2 floor (:mod:`p3mask.quality.ssimulacra2`, measured on the face in context, the square
twice the face box around it) that every protected photo keeps, the learning margin above it at which
the training photos are held while the mask is learned, and the L-inf caps on the mask:
``epsilon`` on its luma and ``chroma_ratio * epsilon`` on its two chroma components (skin-tone shifts
are the change people see first). SSIMULACRA2's published bands: 80 "not noticeable side by side",
70 "barely noticeable side by side at 1:1", 50 "medium quality". ``mid`` is the default.

Example:
    >>> from p3mask.protect.config import PRESETS, get_config
    >>> get_config("mid").quality_floor
    70.0
    >>> get_config("mid", epochs=5).epochs
    5
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from p3mask.models.base import ARCFACE_112
from p3mask.registries import entry

# Models Chameleon may pick its team from: two older recognisers and two modern ArcFace-era ones.
# FaceNet (InceptionResNetV1, 5.7 GFLOP per photo forward plus backward) and SFace (2.3 GFLOP, against
# about 0.9 for each of these) are left out so that a key is learned in the time budget. Measured on 5
# LFW users (`p3mask evaluate --users 5 --gallery-identities 300 --preset mid --transforms jpeg75`),
# query top-1 PSR with the pool {facenet, sface, these four} / without facenet / without both: held-out
# dlib 0.31 / 0.28 / 0.34, w600k_mbf 0.00 in all three, sface 0.03 in all three (even in 60-80% of the
# teams the mask did not fool it), facenet 0.31 / 0.21 / 0.21; learning 110 / 94 / 40 s per user. Both
# stay in the zoo, evaluated as unseen recognisers, and can be asked for with ``team``.
DEFAULT_POOL: tuple[str, ...] = ("mobilefacenet", "mobileface", "fr_feature", "facexzoo_mbf")

# The recognisers that are never team members, whatever the caller asks for: every figure of transfer
# is measured on them. dlib's ResNet (2017) and InsightFace's buffalo_s recogniser w600k_mbf (ArcFace
# loss, WebFace600K: the strongest modern model the registries hold, LFW 0.995).
HELD_OUT_MODELS: tuple[str, ...] = ("dlib", "w600k_mbf")
HELD_OUT_MODEL = "dlib"  # the classic unseen recogniser of Chameleon's comparison
HELD_OUT_MODERN = "w600k_mbf"  # the held-out modern recogniser

# Canonical face frame, the same for every method (Chameleon's keys and the baselines): the ArcFace
# 112x112 landmark template (Deng et al., CVPR 2019) moved into a 128x128 frame (8 px more on every
# side), so that a perturbation also covers the brow and the chin.
CANONICAL_SIZE: tuple[int, int] = (128, 128)
CANONICAL_TEMPLATE: tuple[tuple[float, float], ...] = tuple((x + 8.0, y + 8.0) for x, y in ARCFACE_112)
CANONICAL_FEATHER = 6.0  # width in frame pixels over which a perturbation fades out at the frame border
CANONICAL_MAX_FACE_SCALE = 1.5  # photos are optimised downscaled until the face is <= this x the frame

# The recogniser that tells the user's face from strangers, for every method: it picks the user's face
# in the training photos (the identity present in most of them) and in every photo to protect.
# MobileFaceNet: fast (0.9 GFLOP) and accurate (LFW 0.98).
MATCH_MODEL = "mobilefacenet"

# The mask is bounded in YCbCr (ITU-R BT.601): RGB = Y + CHROMA_TO_RGB @ (Cb, Cr). The largest RGB
# contribution of unit chroma components is B's 1.772 * |Cb|.
CHROMA_TO_RGB: tuple[tuple[float, float], ...] = ((0.0, 1.402), (-0.344136, -0.714136), (1.772, 0.0))
CHROMA_TO_RGB_MAX = 1.772


@dataclass(frozen=True)
class ChameleonConfig:
    """Everything that decides how a P3-Mask is learned.

    Values are in image units of [0, 1] (``epsilon = 32/255`` means 32 grey levels of 255).
    The CLI flags ``--preset``, ``--epochs`` and ``--team`` map onto ``preset``/``epsilon``/
    ``quality_floor``, ``epochs`` and ``team``; the other fields are for library callers.
    """

    preset: str = "mid"  # name of the preset these values started from (stored in the key)
    epsilon: float = 12.0 / 255.0  # L-inf bound of the mask's luma, [0, 1] units (Chameleon's default is 16/255)
    chroma_ratio: float = 0.5  # bound of each chroma component (YCbCr Cb, Cr) as a fraction of epsilon
    quality_floor: float = 70.0  # every protected photo keeps SSIMULACRA2 (face in context) >= this
    # Learning holds each training photo at SSIMULACRA2 floor + margin, a weaker mask than it will be
    # saved with; the per-photo strength search (training photos and every new photo) then holds the
    # floor itself on the saved 8-bit photo. A mask learned to fool the team at the weaker strength
    # transfers better to unseen recognisers and costs less quality on new photos (see PRESETS).
    quality_margin: float = 6.0
    # Passes over the user's photos. Learning longer is what raises transfer; members_per_step = 1 makes
    # it affordable. `p3mask compare --dataset lfw --users 20 --gallery-identities 200 --preset mid
    # --methods chameleon` (60 test photos), held-out dlib query PSR / `bench learn` seconds (2-core Xeon):
    # whole team, 16 epochs 0.37 / 40; whole team, 48 epochs 0.53 / about 110; one member a step,
    # 48 epochs 0.48 / 45 (96 epochs: 0.50; two members a step, 32 epochs: 0.47).
    epochs: int = 48
    batch_size: int = 2  # photos per mini-batch (one signed-gradient step per mini-batch)
    momentum: float = 0.9  # momentum of the signed-gradient steps (MI-FGSM style); 0 disables it
    align_jitter: float = 1.0  # random re-alignment noise while optimising, in crop pixels (0: none)
    step_size: float = 0.25  # first signed-gradient step, as a fraction of epsilon; cosine-decayed
    final_step_size: float = 0.02  # last step, as a fraction of epsilon
    # Temperature (radians) weighting a step's members towards the least fooled; 0: plain mean. It acts only
    # when a step runs several members (members_per_step != 1).
    focus: float = 0.1
    team: tuple[str, ...] | None = None  # fixed team, or None to select it by focal diversity
    # Members of an automatically selected team (>= 2: diversity needs two). The default is the whole
    # pool: with one member a step a larger team costs nothing, and it was measured to transfer better.
    # `p3mask compare --dataset lfw --users 20 --gallery-identities 200 --methods chameleon`, held-out dlib
    # query PSR, team of 3 by focal diversity / the whole pool of 4: mid 0.450 / 0.500 (seed 0),
    # 0.417 / 0.500 (seed 1), 0.417 / 0.467 (seed 2); low 0.100 / 0.150; high 0.667 / 0.767
    # (docs/notes/transfer.md). Focal diversity then chooses only when the pool is larger than the team.
    team_size: int = len(DEFAULT_POOL)
    pool: tuple[str, ...] = DEFAULT_POOL  # candidate team members
    # Team members one step back-propagates through, taken in turn (0: the whole team). One member a step
    # costs a quarter of a four-member step, so four times as many steps fit the same time.
    members_per_step: int = 1
    reselect_every: int = 4  # epochs between focal-diversity team reselections (each embeds every photo with the pool)
    match_model: str = MATCH_MODEL  # model whose embeddings pick the user's face in photos
    frame_size: tuple[int, int] = CANONICAL_SIZE  # (h, w) of the mask frame
    frame_template: tuple[tuple[float, float], ...] = CANONICAL_TEMPLATE  # 5 landmarks in the frame
    # The mask is learned at frame_size / this and upsampled bilinearly. Full resolution (1) transfers
    # best: `p3mask compare --dataset lfw --users 10 --gallery-identities 200 --methods chameleon`, held-out
    # dlib query PSR at mid 0.47 (2: 0.33, 4: 0.07), at high 0.77 (2: 0.60), Butteraugli max 6.4 (2: 6.8).
    mask_downsample: int = 1
    feather: float = CANONICAL_FEATHER  # frame pixels over which the mask fades out at the frame border
    max_face_scale: float = CANONICAL_MAX_FACE_SCALE  # training photos are downscaled until the face <= this x frame
    # Weight of the unlinkability term (Protego; p3mask.protect.unlink): minus the log-determinant of the
    # Gram matrix of the user's normalised protected embeddings per team member (the batch against the
    # latest embeddings of the user's other photos), so protected photos do not find each other. 0: off.
    unlink_weight: float = 0.0

    def __post_init__(self) -> None:
        _check_config(self)

    @property
    def rgb_bound(self) -> float:
        """L-inf bound of the mask in RGB: luma plus the largest chroma contribution (YCbCr -> RGB)."""
        return self.epsilon * (1.0 + CHROMA_TO_RGB_MAX * self.chroma_ratio)


def _check_config(cfg: ChameleonConfig) -> None:
    """Raise ``ValueError`` on values that would make learning meaningless."""
    if not 0.0 < cfg.epsilon <= 1.0:
        raise ValueError(f"epsilon must be in (0, 1], got {cfg.epsilon}")
    if not 0.0 <= cfg.chroma_ratio <= 1.0:
        raise ValueError(f"chroma_ratio must be in [0, 1], got {cfg.chroma_ratio}")
    if not 0.0 < cfg.quality_floor < 100.0 or not 0.0 <= cfg.quality_margin < 100.0 - cfg.quality_floor:
        raise ValueError(
            f"expected 0 < quality_floor < 100 and 0 <= quality_margin < 100 - quality_floor, "
            f"got floor={cfg.quality_floor}, margin={cfg.quality_margin}"
        )
    for name in ("epochs", "batch_size", "team_size", "reselect_every", "mask_downsample"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not 0.0 <= cfg.momentum < 1.0 or cfg.align_jitter < 0.0 or cfg.feather < 0.0 or cfg.focus < 0.0:
        raise ValueError("expected 0 <= momentum < 1, align_jitter >= 0, feather >= 0 and focus >= 0")
    if not 0.0 < cfg.final_step_size <= cfg.step_size:
        raise ValueError(f"expected 0 < final_step_size <= step_size, got {cfg.final_step_size}, {cfg.step_size}")
    if cfg.members_per_step < 0:
        raise ValueError(f"members_per_step must be >= 0 (0: the whole team), got {cfg.members_per_step}")
    if cfg.unlink_weight < 0.0:
        raise ValueError(f"unlink_weight must be >= 0, got {cfg.unlink_weight}")
    members = tuple(cfg.pool) + tuple(cfg.team or ())
    held = [m for m in members if m in HELD_OUT_MODELS]
    if held:
        raise ValueError(f"{held[0]!r} is a held-out recogniser ({', '.join(HELD_OUT_MODELS)}) and never a team member")
    if cfg.team is not None and len(cfg.team) == 0:
        raise ValueError("team must name at least one model (or be None for automatic selection)")
    if cfg.team is None and not 2 <= cfg.team_size <= len(cfg.pool):
        raise ValueError(f"team_size must be in [2, {len(cfg.pool)}] for a pool of {len(cfg.pool)}")
    if len(cfg.frame_template) != 5 or any(len(p) != 2 for p in cfg.frame_template):
        raise ValueError(f"frame_template must hold 5 (x, y) points, got {cfg.frame_template}")


# Named presets by SSIMULACRA2 band: "low" not noticeable side by side (80), "mid" (the default)
# barely noticeable (70), "high" 60. Each level raises the caps with the budget; the floor, not the cap,
# sets how visible the mask is (learning holds every photo at it). Caps measured with learning at the
# floor (`p3mask compare --dataset lfw --users 20 --gallery-identities 200 --methods chameleon`, held-out
# dlib query PSR, docs/notes/transfer.md): mid 12/255 0.550 (seed 0) and 0.517 (seed 1), 16/255 0.617 and
# 0.600, 20/255 0.583 and 0.583; high 20/255 0.817, 24/255 0.850, 28/255 0.800; low 8/255 0.183, 12/255
# 0.217. Low keeps 8/255: at 12/255 contour lines show on the skin at 2x (Butteraugli max 5.06 against 4.28
# on the preset picture's photo), which is what "not noticeable" must not do. Mid keeps 12/255: at 16/255
# the contour lines are stronger (Butteraugli 7.34 against 6.57) and a moving face flickers more than
# the video work allows (the tests' clip: 10.5% of the original's frame-to-frame change, against 5.9%).
#
# Learning margins (training photos held at floor + margin while learning; new photos still at the floor),
# same command, held-out dlib query PSR on seeds 0 / 1 and mean SSIMULACRA2 of the saved photos: mid
# margin 0 0.550 / 0.517 (70.2 / 70.5), 3 0.617 / 0.533, 6 0.633 / 0.567 (71.9 / 72.1), 10 0.483; high
# margin 0 0.850, 8 0.867, 12 0.850; margin 8 and 72 epochs 0.900 (1.5x the learning time, high only).
# Low keeps 0: its 8/255 cap already binds on new photos, so a margin only leaves budget unused (margin 4:
# 0.167 against 0.183, at SSIMULACRA2 81.2); 72 epochs gave 0.200. With every baseline (compare20_*):
# Chameleon / LowKey low 0.200 / 0.200, mid 0.633 / 0.550, high 0.900 / 0.883. Mid keeps 48 epochs for
# `bench learn`'s time bound (96 epochs: 0.617 at twice the time).
PRESETS: dict[str, ChameleonConfig] = {
    "low": ChameleonConfig(preset="low", epsilon=8.0 / 255.0, quality_floor=80.0, quality_margin=0.0,
                           epochs=72),
    "mid": ChameleonConfig(preset="mid", epsilon=12.0 / 255.0, quality_floor=70.0, quality_margin=6.0),
    "high": ChameleonConfig(preset="high", epsilon=24.0 / 255.0, quality_floor=60.0, quality_margin=8.0,
                            epochs=72),
}

DEFAULT_PRESET = "mid"

# What each preset means to a person (the CLI's --preset help and the web page say the same), as seen
# on LFW photos at 2x (docs/figures/presets_before_after.png).
PRESET_HELP: dict[str, str] = {
    "low": "change not noticeable side by side; the weakest protection",
    "mid": "the default balance; a fine pattern of lines shows on the skin when zoomed in",
    "high": "lines and grain visible on the skin; the strongest protection",
}


def get_config(preset: str = DEFAULT_PRESET, **overrides) -> ChameleonConfig:
    """A preset, with some fields replaced.

    Args:
        preset: ``"low"``, ``"mid"`` (default) or ``"high"``.
        **overrides: fields of :class:`ChameleonConfig` to change; ``None`` values are ignored so that
            unset CLI flags keep the preset's value.

    Raises:
        ValueError: unknown preset or field.
    """
    base = entry(PRESETS, preset, "preset")
    known = {f.name for f in fields(ChameleonConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; valid fields: {sorted(known)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "team" in changes:
        changes["team"] = tuple(changes["team"])
    return replace(base, **changes)
