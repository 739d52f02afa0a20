"""A process that must not outlive another: the kernel kills it when its parent dies
(PR_SET_PDEATHSIG), and a watchdog thread covers a watched process that is not the parent."""

from __future__ import annotations

import ctypes
import os
import signal
import threading
import time


def die_with(pid: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass

    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
