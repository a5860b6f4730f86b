"""A gate a test extension's import waits on (tests/unit/test_extension_loading.py: an
import that hangs must not hold the load); the test opens it once it has its answer."""

import threading

GATE = threading.Event()
