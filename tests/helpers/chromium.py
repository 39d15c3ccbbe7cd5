"""Open a local page in headless Chromium (Debian's ``chromium`` package) and ask it what it
drew, over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no
websocket library, no Playwright).

    with HeadlessChromium() as browser:
        page = browser.open(path, bounds_js)  # loads, measures, records every request
        png = browser.screenshot(page.rects["a-chart"])

Skips the calling test, saying how to install it, where Chromium is missing.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

INSTALL = "apt-get install chromium"
# The flags the machine notes give: no first-run work, no connection of Chromium's own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
# The pipe's ends in the child, as Chromium expects them.
_CHILD_READS, _CHILD_WRITES = 3, 4


def chromium_binary() -> str:
    """Chromium's path, or the calling test is skipped saying how to install it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(f"Chromium is not installed here: `{INSTALL}` (Debian's package) to run this")
    return found


@dataclass
class OpenedPage:
    url: str
    measured: Any  # what the page's measuring expression answered
    requests: list[str] = field(default_factory=list)  # every URL the page asked for


class HeadlessChromium:
    def __init__(self, width: int = 1200, height: int = 900, timeout_s: float = 30.0) -> None:
        self._size = (width, height)
        self._timeout_s = timeout_s
        self._next_id = 0
        self._buffer = b""
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> HeadlessChromium:
        binary = chromium_binary()
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # in the child, before exec: the pipe's ends at fds 3 and 4
            high_r, high_w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(high_r, _CHILD_READS)  # dup2 makes them inheritable
            os.dup2(high_w, _CHILD_WRITES)

        self._process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            # Popen would close fds 3 and 4 after wire() ran; our other descriptors are not
            # inheritable (Python's default), so they close at exec all the same.
            close_fds=False,
            preexec_fn=wire,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        width, height = self._size
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )
        for domain in ("Page", "Network"):
            self._send(f"{domain}.enable", session=True)
        # The page's own policy would block an outside load before it is asked for: off,
        # so that every reference the page makes shows as a request.
        self._send("Page.setBypassCSP", {"enabled": True}, session=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self._send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        self._profile.cleanup()

    def open(self, path: Path, measure_js: str) -> OpenedPage:
        """Load ``path``, wait for its load event, and answer ``measure_js``'s value."""
        url = path.resolve().as_uri()
        self._events.clear()
        self._send("Page.navigate", {"url": url}, session=True)
        self._wait_event("Page.loadEventFired")
        answer = self._send(
            "Runtime.evaluate",
            {"expression": measure_js, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"the measuring script failed: {answer['exceptionDetails']}")
        requests = [
            e["params"]["request"]["url"]
            for e in self._events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        return OpenedPage(url, answer["result"].get("value"), requests)

    def screenshot(self, clip: dict[str, float] | None = None) -> bytes:
        """PNG of the page (``clip``: x, y, width, height in page pixels)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        if clip is not None:
            params["clip"] = {**clip, "scale": 1}
        shot = self._send("Page.captureScreenshot", params, session=True)
        return base64.b64decode(shot["data"])

    # ------------------------------------------------------------------ the protocol

    def _send(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def _wait_event(self, method: str) -> dict[str, Any]:
        for event in self._events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read()
            if "method" in event:
                self._events.append(event)
                if event["method"] == method:
                    return event

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self._timeout_s
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_child], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"Chromium said nothing for {self._timeout_s} s")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed its pipe (exit {self._process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded
