"""One worker of ``p3mask learn-many``: its recognisers and detector loaded once, then one user's key
after another with :func:`p3mask.protect.learning.learn`, exactly as ``p3mask learn`` learns it.

A worker returns the key; the process that runs the batch writes it (:meth:`P3Mask.save`: atomic,
owner-only, read back), so that keys are written in one place whichever machine learned them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from p3mask.batch.jobs import UserJob
from p3mask.batch.record import WorkRecord, worker_name
from p3mask.face.detect import FaceDetector
from p3mask.models import load_model
from p3mask.protect.config import ChameleonConfig, get_config
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import learn, resolve_device

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class LearnSettings:
    """How every user of a batch is learned (the flags of ``p3mask learn``, the same for all users)."""

    config: ChameleonConfig = field(default_factory=get_config)  # preset, epochs, team...
    seed: int = 0  # the seed of every user's learning: a user's key is the one `p3mask learn --seed` gives
    device: str = "cpu"  # "auto", "cpu" or "cuda"


@dataclass(frozen=True)
class UserOutcome(WorkRecord):
    """What became of one user.

    Attributes:
        user: the user's name.
        key: the key file.
        status: ``"learned"`` (written by this run), ``"skipped"`` (a valid key was there) or ``"failed"``.
        error: why it failed.
        seconds: learning wall time (loading the photos included, the models not).
        photos: photos learned from; photos_skipped: photos of the folder not used.
        team: the key's team; quality_min, quality_mean: its SSIMULACRA2 on the training photos.
        worker, started, finished, cpu_seconds: see :class:`WorkRecord`.
    """

    DONE = ("learned", "skipped")

    user: str
    key: str
    status: str
    error: str | None = None
    seconds: float | None = None
    photos: int | None = None
    photos_skipped: int | None = None
    team: tuple[str, ...] = ()
    quality_min: float | None = None
    quality_mean: float | None = None


class UserLearner:
    """A worker's models for learning: the recognisers of the team (or the pool) and the match model,
    and the YuNet detector, loaded once and used for every user it is given.

    Args:
        settings: the batch's :class:`LearnSettings`.
    """

    def __init__(self, settings: LearnSettings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        config = settings.config
        names = dict.fromkeys([*(config.team or config.pool), config.match_model])
        self.models = {name: load_model(name, self.device) for name in names}
        self.detector = FaceDetector()

    def __call__(self, job: UserJob) -> tuple[UserOutcome, P3Mask | None]:
        """Learn ``job.user``'s key from the photos of ``job.photos``; ``(outcome, key)``, key None on failure.

        Any error of one user (no readable photo, no face, a bug) is that user's failure: the batch goes on.
        """
        base = UserOutcome(job.user, str(job.key), "failed", worker=worker_name(), started=time.time())
        cpu = time.process_time()
        try:
            result = learn([job.photos], self.settings.config, user=job.user, device=self.device,
                           seed=self.settings.seed, progress=False, models=self.models, detector=self.detector)
        except Exception as exc:  # noqa: BLE001 - one user's failure must not stop the others
            logger.info("learning %s failed", job.user, exc_info=True)
            error = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            return replace(base, error=error, finished=time.time(), cpu_seconds=time.process_time() - cpu), None
        key = result.key
        return replace(base, status="learned", seconds=result.seconds, photos=len(result.photos),
                       photos_skipped=len(result.skipped), team=tuple(key.team), quality_min=key.quality_min,
                       quality_mean=key.quality_mean, finished=time.time(), cpu_seconds=time.process_time() - cpu), key
