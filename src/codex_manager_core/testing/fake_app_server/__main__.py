"""`python -m codex_manager_core.testing.fake_app_server --config <json>`: run one fake."""

import sys

from codex_manager_core.testing.fake_app_server._server import main

sys.exit(main())
