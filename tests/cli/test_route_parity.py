"""The CLI's route binding table equals the contract's route list (tests/acceptance/
routes.tsv), as the original's route-parity test: every route has exactly one command,
and no command names a route the server does not have."""

from __future__ import annotations

from collections import Counter

from codex_manager_cli.route_table import BINDINGS
from tests.acceptance.contract_routes import contract_routes


def test_bindings_are_unique() -> None:
    routes = Counter(binding.route for binding in BINDINGS)
    commands = Counter(binding.command for binding in BINDINGS)
    assert [route for route, count in routes.items() if count > 1] == []
    assert [command for command, count in commands.items() if count > 1] == []


def test_bindings_equal_the_route_list() -> None:
    bound = {binding.route for binding in BINDINGS}
    contract = {route.key for route in contract_routes()}
    assert sorted(contract - bound) == [], "routes without a command"
    assert sorted(bound - contract) == [], "commands for routes the server does not have"


def test_the_stream_route_is_the_live_command() -> None:
    kinds = {route.key: route.kind for route in contract_routes()}
    for binding in BINDINGS:
        assert binding.kind == kinds[binding.route], binding.name


def test_every_http_binding_becomes_a_command() -> None:
    from click.testing import CliRunner

    from codex_manager_cli.main import cli

    runner = CliRunner()
    for binding in BINDINGS:
        result = runner.invoke(cli, [*binding.command, "--help"])
        assert result.exit_code == 0, (binding.name, result.output)
        if binding.kind == "http":
            assert binding.help.split(" (")[0] in " ".join(result.output.split()), binding.name
