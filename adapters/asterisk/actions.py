"""AMI actions: errors, the secret wrapper, action encoding and the ActionID-keyed pending registry.

Replies are matched to requests by ``ActionID`` (never by order: Asterisk answers list actions with a
response plus a stream of events, and other events interleave freely).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from adapters.asterisk.framing import AmiMessage

__all__ = [
    "AmiActionError",
    "AmiAuthError",
    "AmiConnectionError",
    "AmiConnectionLost",
    "AmiError",
    "AmiProtocolError",
    "AmiSecret",
    "AmiTimeout",
    "HeaderValue",
    "PendingActions",
    "format_action",
]

HeaderValue = str | Sequence[str]


class AmiError(Exception):
    """Base class of every AMI client error."""


class AmiConnectionError(AmiError):
    """Could not connect, or no usable session right now."""


class AmiConnectionLost(AmiConnectionError):
    """An established session ended (closed by the peer, declared dead, or closed by us)."""


class AmiProtocolError(AmiConnectionError):
    """The peer does not speak AMI (wrong banner)."""


class AmiAuthError(AmiError):
    """The server refused the login. The text never contains the secret."""


class AmiTimeout(AmiError, TimeoutError):
    """No (complete) reply to an action in time."""


class AmiActionError(AmiError):
    """The server answered ``Response: Error``; ``response`` is that reply."""

    def __init__(self, action: str, response: AmiMessage) -> None:
        super().__init__(f"AMI action {action} failed: {response.get('Message') or 'no message'}")
        self.action = action
        self.response = response


class AmiSecret:
    """A password that does not leak: ``repr``/``str``/``format`` all give ``***``.

    Only :meth:`reveal` returns the value, and only the Login encoder calls it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    @classmethod
    def from_file(cls, path: str | Path) -> AmiSecret:
        # Secret files usually end with a newline that is not part of the password.
        return cls(Path(path).read_text(encoding="utf-8").rstrip("\r\n"))

    @classmethod
    def from_env(cls, name: str) -> AmiSecret:
        try:
            return cls(os.environ[name])
        except KeyError:
            raise KeyError(f"environment variable {name} is not set") from None

    def reveal(self) -> str:
        return self._value

    def redact(self, text: str) -> str:
        """``text`` with any occurrence of the secret replaced (for server-supplied messages)."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("AmiSecret cannot be pickled")


def format_action(name: str, action_id: str, headers: Mapping[str, HeaderValue]) -> bytes:
    """Encode one action. A value may be a sequence (repeated header, e.g. ``Variable``)."""
    lines = [f"Action: {name}", f"ActionID: {action_id}"]
    for key, value in headers.items():
        values = [value] if isinstance(value, str) else list(value)
        for v in values:
            # A line break would let a value inject extra headers or actions; the value itself is not
            # echoed because it may be a secret.
            if "\r" in v or "\n" in v or "\r" in key or "\n" in key or ": " in key:
                raise ValueError(f"AMI header {key!r} of action {name} contains a line break or ': '")
            lines.append(f"{key}: {v}")
    for text in (name, action_id):
        if "\r" in text or "\n" in text:
            raise ValueError("AMI action name or ActionID contains a line break")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class _ListCollector:
    __slots__ = ("complete_event", "done", "items")

    def __init__(self, complete_event: str, done: asyncio.Future[list[AmiMessage]]) -> None:
        self.complete_event = complete_event
        self.items: list[AmiMessage] = []
        self.done = done


class PendingActions:
    """Futures of the actions in flight on one session, keyed by ActionID."""

    def __init__(self, new_id: Callable[[], str], own_prefix: str) -> None:
        self._new_id = new_id
        self._prefix = own_prefix
        self._responses: dict[str, asyncio.Future[AmiMessage]] = {}
        self._lists: dict[str, _ListCollector] = {}
        self._closed: BaseException | None = None

    def new_id(self) -> str:
        return self._new_id()

    def expect_response(self, action_id: str) -> asyncio.Future[AmiMessage]:
        fut: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        if self._closed is not None:
            fut.set_exception(self._closed)
        else:
            self._responses[action_id] = fut
        return fut

    def expect_list(self, action_id: str, complete_event: str) -> asyncio.Future[list[AmiMessage]]:
        fut: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()
        if self._closed is not None:
            fut.set_exception(self._closed)
        else:
            self._lists[action_id] = _ListCollector(complete_event, fut)
        return fut

    def forget(self, action_id: str) -> None:
        self._responses.pop(action_id, None)
        self._lists.pop(action_id, None)

    def route(self, msg: AmiMessage) -> bool:
        """Deliver a reply to whoever waits for it; True if ``msg`` was consumed."""
        headers = msg.headers
        action_id = headers.get("ActionID")
        if "Response" in headers:
            fut = self._responses.pop(action_id, None) if action_id is not None else None
            if fut is not None and not fut.done():
                fut.set_result(msg)
            return True  # a response nobody waits for (late, or unsolicited) is still not an event
        if action_id is None:
            return False
        collector = self._lists.get(action_id)
        if collector is not None:
            if headers.get("Event") == collector.complete_event:
                del self._lists[action_id]
                if not collector.done.done():
                    collector.done.set_result(collector.items)
            else:
                collector.items.append(msg)
            return True
        # Late list items of an action we stopped waiting for belong to us, not to the event stream.
        return action_id.startswith(self._prefix)

    def fail_all(self, exc: BaseException) -> None:
        self._closed = exc
        for fut in self._responses.values():
            if not fut.done():
                fut.set_exception(exc)
        for collector in self._lists.values():
            if not collector.done.done():
                collector.done.set_exception(exc)
        self._responses.clear()
        self._lists.clear()
