"""The domain: one service per concept (sessions, projects, turns, controls, settings,
interactive requests, transcript, the runtime pass-throughs, events), each built over a
`ServiceContext` (`context.py`) and composed by `Manager` (`manager.py`). See
docs/architecture.md."""
