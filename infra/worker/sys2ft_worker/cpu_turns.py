"""Training and inference take turns on a CPU.

A training runs in a child process with all the cores; scoring and generation run in the serving
process with all the cores too. Side by side on a 2-core machine both ran several times slower than
one after the other (a 48-example LoRA training at 15.6 tok/s beside an evaluation, ~130 alone).

So on a CPU a training waits until the inference calls in progress have ended, and inference calls
that arrive while a training waits or runs wait for it to end: a waiting training goes before later
inference, so a steady stream of scoring calls cannot starve it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CpuTurns:
    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._inference = 0  # inference calls inside (running, or queued on the engine's own lock)
        self._training = False
        self._training_waiting = 0

    @contextmanager
    def inference(self) -> Iterator[None]:
        with self._cv:
            self._cv.wait_for(lambda: not self._training and self._training_waiting == 0)
            self._inference += 1
        try:
            yield
        finally:
            with self._cv:
                self._inference -= 1
                self._cv.notify_all()

    def acquire_training(self, cancelled: Callable[[], bool], poll_s: float = 0.2) -> bool:
        """Waits for the cores; False (not held) when ``cancelled()`` turns true first."""
        with self._cv:
            self._training_waiting += 1
            try:
                while self._inference or self._training:
                    if cancelled():
                        return False
                    self._cv.wait(poll_s)
                self._training = True
                return True
            finally:
                self._training_waiting -= 1
                self._cv.notify_all()

    def release_training(self) -> None:
        with self._cv:
            self._training = False
            self._cv.notify_all()

    def state(self) -> dict[str, int | bool]:
        with self._cv:
            return {"inference": self._inference, "training": self._training, "training_waiting": self._training_waiting}
