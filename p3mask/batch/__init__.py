"""Many users and many photos: the batch commands ``p3mask learn-many`` and ``p3mask protect-many``.

The layout shows the flow:

* :mod:`p3mask.batch.jobs`: what to do, planned before any work: one :class:`UserJob` per user
  folder, one :class:`PhotoJob` per photo (per-user folders or a ``photo,user`` manifest CSV);
  finished work (a valid key, a protected copy already written) is skipped, so a run stopped midway
  is finished by running it again.
* :mod:`p3mask.batch.learner` and :mod:`p3mask.batch.protector`: what one worker does, with its
  models loaded once: learn one user's key, protect one photo (decode, detect, apply, encode, write).
* :mod:`p3mask.batch.local` (processes on this machine) and :mod:`p3mask.batch.ray_backend` (Ray
  tasks for learning, a Ray Data pipeline of model-holding actors for protecting): who runs the workers.
* :mod:`p3mask.batch.runner`: plans, runs on a backend, writes the keys, reports each outcome and
  builds the summary.
"""

from p3mask.batch.jobs import PhotoJob, UserJob
from p3mask.batch.runner import BACKENDS, learn_many, protect_many

__all__ = ["BACKENDS", "PhotoJob", "UserJob", "learn_many", "protect_many"]
