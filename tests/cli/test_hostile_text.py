"""Stored and user-supplied text is printed as written: no Rich markup or ``:emoji:`` codes
interpreted, no control character (ANSI escape, carriage return, bidi override) reaching the
terminal (issue 13, point 3)."""

from __future__ import annotations

import msgspec
import pytest

from kmsg import JobQueue, MissingDependencyError
from kmsg.cli.output import console, safe
from tests.cli.conftest import Kmsg

HOSTILE = "[kmsg] test [red]X[/red] :warning: \x1b[31mred\x1b[0m\rover\x08\u202eevil\x9b"
RAW_CONTROLS = ("\x1b", "\r", "\x08", "\u202e", "\x9b")
SHOWN = ("[kmsg] test [red]X[/red] :warning: ", "\\x1b[31mred", "\\rover", "\\u202eevil")


class Note(msgspec.Struct, frozen=True):
    """A payload carrying text."""

    text: str


def _assert_literal(output: str, *expected: str) -> None:
    for control in RAW_CONTROLS:
        assert control not in output, (control, output)
    for part in expected:
        assert part in output, (part, output)


def test_safe_shows_controls_and_keeps_markup() -> None:
    assert safe("a\x1b[2Jb\r\n\t\x7f") == "a\\x1b[2Jb\\r\\n\\t\\x7f"
    with console.capture() as captured:
        console.print(safe(HOSTILE))
        console.print(safe(MissingDependencyError("the http provider", "http")))
    _assert_literal(captured.get(), *SHOWN, 'pip install "kmsg[http]"')


def test_jobs_and_dead_letters_print_literally(kmsg: Kmsg) -> None:
    async def seed(queue: JobQueue) -> tuple[str, str]:
        live = await queue.enqueue(Note(HOSTILE), queue=kmsg.queue, dedupe_key="[bold]k")
        dead = await queue.enqueue(Note("x"), queue=kmsg.queue, priority=9)
        [claimed] = await queue.claim(kmsg.queue)
        await queue.fail(claimed.lease, ValueError(HOSTILE), retryable=False)
        return live, dead

    live, dead = kmsg.with_queue(seed)
    q = ("-q", kmsg.queue)
    # the payload is shown as JSON, whose encoder writes control characters as \u escapes
    _assert_literal(kmsg.ok("queue", "inspect", live, *q).stdout, SHOWN[0], "[bold]k")
    _assert_literal(kmsg.ok("queue", "list", *q, "-s", "failed").stdout, "ValueError: [kmsg] test")
    _assert_literal(kmsg.ok("dlq", "list", *q).stdout, "[kmsg] test [red]X")
    _assert_literal(kmsg.ok("dlq", "inspect", dead, *q).stdout, *SHOWN)
    # JSON keeps the text exactly (the encoder escapes control characters itself)
    assert kmsg.json("queue", "inspect", live, *q)["payload"]["text"] == HOSTILE


def test_templates_and_hints_print_literally(sqlite_kmsg: Kmsg) -> None:
    sqlite_kmsg.ok(
        "templates", "create", "RED", "--name", "[notice] x\x1b[2J", "--content", "[red]X #{a}\r"
    )
    listed = sqlite_kmsg.ok("templates", "list").stdout
    _assert_literal(listed, "[notice] x\\x1b[2J", "[red]X #{a}\\r")
    env = {k: v for k, v in sqlite_kmsg.env.items() if k != "K_MSG_MOCK"}
    env["K_MSG_PROVIDER"] = "kmsg[http]"
    runner = type(sqlite_kmsg)(sqlite_kmsg.url, sqlite_kmsg.queue, sqlite_kmsg.cwd, env)
    health = runner.run("health")
    assert "'kmsg[http]'" in health.stdout, health.stdout


@pytest.mark.parametrize("where", ["queue", "job id"])
def test_user_arguments_in_errors_show_controls(sqlite_kmsg: Kmsg, where: str) -> None:
    args = ["queue", "inspect", "01HZZZZZZZZZZZZZZZZZZZZZZZ", "-q", "q\x1b[31m"]
    if where == "job id":
        args[2:] = ["x\x1b[31m[red]y\r"]
    done = sqlite_kmsg.run(*args)
    assert done.returncode in (2, 3)
    _assert_literal(done.stderr, "\\x1b[31m")
