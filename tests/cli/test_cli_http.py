"""The CLI's own HTTP/1.1 exchange over a socket (codex_manager_cli.http): answers with a
Content-Length, chunked or read until close, and hostile bytes as a clear transport error."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from codex_manager_cli import http
from codex_manager_client.errors import TransportError
from codex_manager_client.target import Target


def test_an_answer_with_a_content_length() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 8\r\n\r\n{"a": 1}trailing'
    assert http._parse_answer(raw) == (200, "application/json", b'{"a": 1}')


def test_a_chunked_answer() -> None:
    raw = (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n4;ext=1\r\n{"a"\r\n4\r\n: 1}\r\n0\r\n\r\n'
    )
    assert http._parse_answer(raw) == (404, "application/json", b'{"a": 1}')


def test_an_answer_read_until_close() -> None:
    assert http._parse_answer(b"HTTP/1.0 200 OK\r\n\r\nhello") == (200, "", b"hello")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.1 answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3", "not an HTTP/1.1 answer"),
        (b"HTTP/1.1 OK\r\n\r\n", "not an HTTP/1.1 answer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nab", "cut short"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", "cut short"),
    ],
)
def test_bytes_that_are_not_an_answer_are_named(raw: bytes, problem: str) -> None:
    with pytest.raises(http.MalformedAnswer, match=problem):
        http._parse_answer(raw)


@contextmanager
def one_shot_server(answer: bytes) -> Iterator[tuple[str, list[bytes]]]:
    """A socket server that reads one request, writes `answer` and closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(4096)
            seen.append(data)
            connection.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", seen
    finally:
        thread.join(10)
        listener.close()
    assert not thread.is_alive(), "the one-shot server did not finish within 10 s"


def test_a_request_and_its_answer_over_the_socket() -> None:
    answer = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id": "s"}'
    with one_shot_server(answer) as (url, seen):
        target = Target(url, token="t0k")
        got = http.send(target, "POST", http.request_url(target, "/sessions"), body={"t": "é"})
    assert (got.status, got.body) == (201, {"id": "s"})
    head = seen[0].decode()
    assert head.startswith("POST /api/sessions HTTP/1.1\r\n")
    assert "Authorization: Bearer t0k\r\n" in head
    assert "Content-Type: application/json\r\n" in head
    assert "Connection: close\r\n" in head


def test_a_server_that_answers_garbage_is_a_transport_error() -> None:
    with one_shot_server(b"garbage\r\n\r\n") as (url, _seen):
        target = Target(url)
        with pytest.raises(TransportError, match=r"not an HTTP/1\.1 answer"):
            http.send(target, "GET", http.request_url(target, "/health"))
