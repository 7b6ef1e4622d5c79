"""A builder (genoattn.inference.outputs.Builder) run in a child process.

pyBigWig holds the interpreter lock while it adds entries and while it closes the file (building the zoom levels
reads all the data back), so a bigWig built in the prediction process slows the model loop's host work; in a
child process it runs on another core and the writer thread only pipes the bytes (two per base) to it. The child
is a fresh interpreter (``python -m genoattn.inference.builder_process FD``: it imports numpy and pyBigWig, not
torch, and never the caller's main module), talking over a socket pair with pickled messages. Failures come back
as the OSError the builder raised (at the next call, at the latest at ``finish``), a crash as an OSError naming
the exit code; a parent that dies closes the socket, and the child then drops its unfinished file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path

from genoattn.inference.outputs import Builder

JOIN_S = 30.0  # longest wait for a child to stop after finish/abort before it is killed


class BuilderProcess:
    """Runs ``builder`` (picklable before ``open``) in a child process; same interface as the builder."""

    def __init__(self, builder: Builder) -> None:
        self.builder = builder
        self.target: Path | None = None
        self._conn: Connection | None = None
        self._process: subprocess.Popen | None = None

    def open(self, target: Path, recorded: Iterable[bytes] = ()) -> None:
        self.target = target
        mine, theirs = socket.socketpair()
        with theirs:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # finds genoattn as we do
            self._process = subprocess.Popen([sys.executable, "-m", __name__, str(theirs.fileno())],
                                             pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env)
        self._conn = Connection(mine.detach())
        self._send(("open", self.builder, str(target)))
        self._expect("opened")
        for data in recorded:
            self.add(data)

    def add(self, data: bytes) -> None:
        if self._connection().poll():  # the child stopped with an error since the last call
            self._expect("nothing before finish")
        self._send(("add", data))

    def finish(self) -> None:
        self._send(("finish",))
        self._expect("finished")
        self._join()

    def abort(self) -> None:
        """Stop the child, which removes its unfinished file; never raises."""
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("abort",))
        self._join()
        if self.target is not None:
            Path(self.target).unlink(missing_ok=True)

    # ------------------------------------------------------------------ parent side
    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("BuilderProcess: open() first")
        return self._conn

    def _send(self, message: tuple) -> None:
        try:
            self._connection().send(message)
        except OSError:  # the child is gone: its last message says why
            self._expect("nothing: it stopped")

    def _expect(self, reply: str) -> None:
        """Wait for the child's ``reply``; raise the error it sent instead (or that it died, or that it sent
        something else)."""
        try:
            message = self._connection().recv()
        except (EOFError, OSError):
            code = self._join()
            raise OSError(errno.EIO, f"the track writer process stopped (exit code {code})", str(self.target)) from None
        if message[0] == "error":
            self._join()
            _, code, text, filename, is_os_error = message
            if is_os_error:
                raise OSError(code, text, filename)
            raise RuntimeError(text)
        if message[0] != reply:
            raise RuntimeError(f"BuilderProcess: expected {reply!r} from the child, got {message[0]!r}")

    def _join(self) -> int | None:
        """Close the socket, wait for the child (killed after JOIN_S); its exit code (None: no child)."""
        process, self._process = self._process, None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        if process is None:
            return None
        try:
            return process.wait(JOIN_S)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()


def serve(conn: Connection) -> None:
    """The child: open the builder it is sent, then apply the parent's messages in order until finish or abort."""
    builder: Builder | None = None
    try:
        _, builder, target = conn.recv()
        builder.open(Path(target))
        conn.send(("opened",))
        while True:
            try:
                message = conn.recv()
            except EOFError:  # the parent is gone
                builder.abort()
                return
            if message[0] == "add":
                builder.add(message[1])
            elif message[0] == "finish":
                builder.finish()
                conn.send(("finished",))
                return
            else:
                builder.abort()
                return
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent, which raises it
        if builder is not None:
            builder.abort()
        with contextlib.suppress(OSError):
            if isinstance(exc, OSError):
                conn.send(("error", exc.errno, exc.strerror, exc.filename, True))
            else:
                conn.send(("error", None, f"{type(exc).__name__}: {exc}", None, False))
    finally:
        conn.close()


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
