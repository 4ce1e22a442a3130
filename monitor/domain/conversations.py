"""Conversation threading for one mailbox: which messages belong together.

Links, strongest first: Message-ID references (In-Reply-To / References), the Outlook Thread-Index
root, then the normalised subject with the same customer address within a window. Messages can
arrive in any order (the inbox and Sent are read separately), so a late message that links two
conversations merges them (union-find), and nothing depends on arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain.mail import MailSeen

SUBJECT_WINDOW_S = 14 * 86400.0


@dataclass
class Conversation:
    conversation_id: str  # the message key of its earliest known message (stable after merges)
    messages: dict[str, MailSeen] = field(default_factory=dict)

    def ordered(self) -> list[MailSeen]:
        return sorted(self.messages.values(), key=lambda m: (m.received_at, m.message_key))


class ConversationIndex:
    def __init__(self, subject_window_s: float = SUBJECT_WINDOW_S) -> None:
        self.subject_window_s = subject_window_s
        self._parent: dict[str, str] = {}  # message key -> parent key (union-find)
        self._messages: dict[str, MailSeen] = {}
        self._by_thread_index: dict[str, str] = {}
        self._by_subject: dict[tuple[str, str], list[str]] = {}

    def __contains__(self, message_key: str) -> bool:
        return message_key in self._messages

    def add(self, msg: MailSeen) -> str:
        """Index ``msg`` (idempotent); returns the root key of its conversation."""
        key = msg.message_key
        if key in self._messages:
            self._merge_copy(msg)
            return self.root(key)
        self._messages[key] = msg
        self._parent.setdefault(key, key)
        for ref in (*msg.in_reply_to, *msg.references):
            self._parent.setdefault(ref, ref)  # a reference may name a message not seen (yet)
            self._union(key, ref)
        if msg.thread_index:
            other = self._by_thread_index.setdefault(msg.thread_index, key)
            self._union(key, other)
        if msg.customer_key and msg.subject_hash:
            bucket = self._by_subject.setdefault((msg.subject_hash, msg.customer_key), [])
            for other in bucket:
                if abs(self._messages[other].received_at - msg.received_at) <= self.subject_window_s:
                    self._union(key, other)
                    break
            bucket.append(key)
        return self.root(key)

    def _merge_copy(self, msg: MailSeen) -> None:
        """The same message seen twice (BCC copy in the inbox and the Sent copy): keep the earliest
        arrival; the first copy's other facts stand."""
        known = self._messages[msg.message_key]
        if msg.received_at < known.received_at:
            from dataclasses import replace

            self._messages[msg.message_key] = replace(known, received_at=msg.received_at)

    def root(self, key: str) -> str:
        parent = self._parent.setdefault(key, key)
        while parent != self._parent[parent]:
            self._parent[parent] = self._parent[self._parent[parent]]
            parent = self._parent[parent]
        self._parent[key] = parent
        return parent

    def _union(self, a: str, b: str) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            # Deterministic: the smaller key wins, so the same messages always give the same root.
            keep, drop = (ra, rb) if ra < rb else (rb, ra)
            self._parent[drop] = keep

    def conversation(self, root: str) -> Conversation:
        members = {k: m for k, m in self._messages.items() if self.root(k) == root}
        first = min(members.values(), key=lambda m: (m.received_at, m.message_key)) if members else None
        return Conversation(first.message_key if first else root, members)

    def conversations(self) -> list[Conversation]:
        groups: dict[str, dict[str, MailSeen]] = {}
        for key, msg in self._messages.items():
            groups.setdefault(self.root(key), {})[key] = msg
        out = []
        for members in groups.values():
            first = min(members.values(), key=lambda m: (m.received_at, m.message_key))
            out.append(Conversation(first.message_key, members))
        return sorted(out, key=lambda c: c.conversation_id)
