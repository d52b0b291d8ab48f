"""A local WebSocket server speaking the Polygon/Massive stocks protocol.

For the tests, the feed benchmark and ``make demo FEED=local``: the live feed service
(:mod:`tickflow.feed.polygon`) connects to it exactly as to the vendor
(``TICKFLOW_FEED_HOST=127.0.0.1:<port> TICKFLOW_FEED_SECURE=false``).

Protocol, as the vendor documents it: on connect the server sends
``[{"ev":"status","status":"connected","message":"Connected Successfully"}]``; the client
sends ``{"action":"auth","params":KEY}`` and gets ``auth_success`` or ``auth_failed``
(then the server closes); each ``{"action":"subscribe","params":"T.*,Q.AAPL"}`` is
acknowledged per entry with ``success`` / ``subscribed to: T.*``; data frames are JSON
arrays of events. The vendor allows one connection per key: a second authenticated
connection makes the server send ``max_connections`` to it and close it.

The server runs its own asyncio loop on a thread; the driving test calls ``send``,
``send_raw``, ``disconnect``, ``status`` from its own thread. Every event a data frame
carried is kept in ``sent`` once the frame was written to the socket.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed


class LocalPolygonServer:
    def __init__(self, api_key: str = "local-key", host: str = "127.0.0.1", port: int = 0,
                 ping_interval: float | None = None) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.ping_interval = ping_interval
        self.sent: list[dict[str, Any]] = []
        self.connections = 0
        self.auth_failures = 0
        self.subscriptions: list[str] = []
        self._conn: ServerConnection | None = None
        self._subscribed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="polygon-server", daemon=True)

    # -- lifecycle
    def start(self) -> LocalPolygonServer:
        self._thread.start()
        self._server = self._call(self._serve())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self) -> Server:
        return await serve(self._handler, self.host, self.port, ping_interval=self.ping_interval,
                           max_size=None, compression=None)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._call(self._server.wait_closed())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def __enter__(self) -> LocalPolygonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host_port(self) -> str:
        return f"{self.host}:{self.port}"

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # -- protocol
    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        await ws.send(_status("connected", "Connected Successfully"))
        authed = False
        try:
            async for raw in ws:
                try:
                    msg = json.loads(raw)
                    action, params = msg["action"], str(msg.get("params", ""))
                except (ValueError, KeyError, TypeError):
                    await ws.send(_status("error", "Invalid message"))
                    continue
                if action == "auth":
                    if params != self.api_key:
                        self.auth_failures += 1
                        await ws.send(_status("auth_failed", "authentication failed"))
                        await ws.close(1008, "authentication failed")
                        return
                    authed = True
                    self._subscribed.clear()  # until this connection subscribes
                    if self._conn is not None and self._conn is not ws:
                        await _kick(self._conn, _status(
                            "max_connections", "Maximum number of websocket connections exceeded."))
                    self._conn = ws
                    await ws.send(_status("auth_success", "authenticated"))
                elif action in ("subscribe", "unsubscribe"):
                    if not authed:
                        await ws.send(_status("error", "not authorized"))
                        continue
                    subs = [p.strip() for p in params.split(",") if p.strip()]
                    if action == "subscribe":
                        self.subscriptions.extend(subs)
                    word = "subscribed to" if action == "subscribe" else "unsubscribed to"
                    await ws.send(json.dumps([{"ev": "status", "status": "success", "message": f"{word}: {s}"}
                                              for s in subs]))
                    if self._conn is ws:
                        self._subscribed.set()
                else:
                    await ws.send(_status("error", f"unknown action {action!r}"))
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            if self._conn is ws:
                self._conn = None
                self._subscribed.clear()

    # -- driving it (from the test's thread)
    def wait_subscribed(self, timeout: float = 30.0) -> bool:
        return self._subscribed.wait(timeout)

    def send(self, events: Sequence[dict[str, Any]]) -> bool:
        """One data frame; True (and the events recorded in ``sent``) if it was written to
        a subscribed connection."""
        return bool(self._call(self._send(json.dumps(list(events)), list(events))))

    async def _send(self, frame: str | bytes, events: list[dict[str, Any]] | None) -> bool:
        ws = self._conn
        if ws is None or not self._subscribed.is_set():
            return False
        try:
            await ws.send(frame)
        except ConnectionClosed:
            return False
        if events:
            self.sent.extend(events)
        return True

    def send_raw(self, frame: str | bytes) -> bool:
        """A frame as given (malformed frames, statuses); not recorded in ``sent``."""
        return bool(self._call(self._send(frame, None)))

    def status(self, status: str, message: str) -> bool:
        return self.send_raw(_status(status, message))

    def disconnect(self, abort: bool = True) -> None:
        """Drop the current connection: ``abort`` cuts TCP (no close frame), else a 1011 close."""
        async def drop() -> None:
            ws = self._conn
            if ws is None:
                return
            self._conn = None
            self._subscribed.clear()
            if abort:
                ws.transport.abort()
            else:
                await ws.close(1011, "server going away")
        self._call(drop())

    def blast(self, frames: Sequence[bytes], events_per_frame: Sequence[int], seconds: float,
              rate: float | None = None) -> tuple[int, float]:
        """Send the frames round-robin for ``seconds`` as fast as the client takes them
        (``rate`` None) or paced at ``rate`` events/s; returns (events sent, seconds)."""
        return tuple(self._call(self._blast(frames, events_per_frame, seconds, rate), timeout=seconds + 60))  # type: ignore[return-value]

    async def _blast(self, frames: Sequence[bytes], counts: Sequence[int], seconds: float,
                     rate: float | None) -> tuple[int, float]:
        ws = self._conn
        if ws is None:
            raise RuntimeError("no subscribed client")
        t0 = time.perf_counter()
        sent = 0
        i = 0
        n = len(frames)
        while True:
            now = time.perf_counter() - t0
            if now >= seconds:
                break
            if rate is not None:
                ahead = sent / rate - now
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await ws.send(frames[i % n])
            sent += counts[i % n]
            i += 1
        return sent, time.perf_counter() - t0


def _status(status: str, message: str) -> str:
    return json.dumps([{"ev": "status", "status": status, "message": message}])


async def _kick(ws: ServerConnection, frame: str) -> None:
    try:
        await ws.send(frame)
        await ws.close(1008, "max_connections")
    except ConnectionClosed:
        pass


# ---------------------------------------------------------------------------- event makers

def trade(sym: str, t_ms: int, price: float, size: int, trade_id: int, seq: int, x: int = 4,
          conditions: Sequence[int] = (), tape: int = 3) -> dict[str, Any]:
    return {"ev": "T", "sym": sym, "x": x, "i": str(trade_id), "z": tape, "p": price, "s": size,
            "c": list(conditions), "t": t_ms, "q": seq}


def quote(sym: str, t_ms: int, bid: float, ask: float, seq: int, bs: int = 2, as_: int = 3,
          bx: int = 11, ax: int = 12, tape: int = 3) -> dict[str, Any]:
    # The vendor's stock quotes carry ``c`` as one int; the ingest decoder takes the
    # array form the flat files and the design use, so the local server sends that.
    return {"ev": "Q", "sym": sym, "bx": bx, "bp": bid, "bs": bs, "ax": ax, "ap": ask, "as": as_,
            "c": [1], "t": t_ms, "q": seq, "z": tape}


def minute_agg(sym: str, start_ms: int, o: float, h: float, lo: float, c: float, v: int, vw: float,
               n: int) -> dict[str, Any]:
    return {"ev": "AM", "sym": sym, "v": v, "av": v, "op": o, "vw": vw, "o": o, "c": c, "h": h, "l": lo,
            "a": vw, "z": max(1, v // max(n, 1)), "n": n, "s": start_ms, "e": start_ms + 60_000}
