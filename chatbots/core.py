"""The one chat command core behind every front end (web chat panel, Slack, Discord).

``ChatCore.handle(text, learner=..., user=...)`` returns a ``Reply`` (title + fields): each front end
renders it natively (JSON for the page, Block Kit for Slack, an embed for Discord). Bad input is a
``Reply`` with ``ok=False`` and a ``code``, never an exception.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from chatbots.status import LiveStatus
from tutor.chars import CHARSET, CONFUSION_HINTS, article, lookalikes, tip
from tutor.grading import confusion_hint
from tutor.store import LEARNER, Store

log = logging.getLogger("inkbus.chat")
MAX_TEXT = 500


@dataclass
class Reply:
    title: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    ok: bool = True
    code: str | None = None
    data: dict = field(default_factory=dict)  # for front ends that act on it (the page sets a practice target)

    def to_dict(self) -> dict:
        body = {"title": self.title, "text": self.text, "fields": [{"name": n, "value": v} for n, v in self.fields]}
        body.update({"ok": self.ok, "data": self.data})
        if self.code:
            body["code"] = self.code
        return body

    def as_text(self) -> str:
        lines = [f"*{self.title}*"] + ([self.text] if self.text else [])
        return "\n".join(lines + [f"{n}: {v}" for n, v in self.fields])


def error(code: str, message: str) -> Reply:
    return Reply(title="Sorry", text=message, ok=False, code=code)


@dataclass
class Command:
    fn: Callable
    usage: str
    about: str
    admin: bool = False
    store: bool = True  # needs the progress store


NO_IDENTITY = "I can't tell who you are here, so there is no progress of yours to use"


def account_learner(account: str) -> str:
    """The learner id of a chat account that is not linked to a web learner: ``slack:T1:U1`` -> ``slack-T1-U1``."""
    return re.sub(r"[^A-Za-z0-9_.@-]", "-", account)[:64]


class ChatCore:
    """Commands act for the caller only: ``learner`` (the edge's signed identity) or ``account`` (a chat
    platform's user, acting as the web learner it is linked to). ``user`` is checked against the admins."""

    def __init__(self, store: Store | None, status: LiveStatus, admins: set[str] | None = None, link_ttl_s: int = 600):
        self.store, self.status, self.admins, self.link_ttl_s = store, status, admins or set(), link_ttl_s
        self.commands: dict[str, Command] = {
            "help": Command(self.help, "help", "what I can do", store=False),
            "practice": Command(self.practice, "practice [char]", "get a character to practise, with a tip"),
            "hint": Command(
                self.hint, "hint <char>", "how to write a character, and what it gets mistaken for", store=False
            ),
            "stats": Command(self.stats, "stats", "your practice progress"),
            "correct": Command(self.correct, "correct <char>", "“that was a q”: label your last drawing"),
            "link": Command(self.link, "link [code]", "the page gives a code; `link CODE` in Slack or Discord uses it"),
            "unlink": Command(self.unlink, "unlink", "stop this chat account acting as your web learner"),
            "export": Command(self.export, "export", "what is stored about you"),
            "forget": Command(self.forget, "forget", "delete everything stored about you"),
            "status": Command(self.status_cmd, "status", "workers, queue, model and recent latency", store=False),
            "queue": Command(self.queue, "queue", "recognition jobs waiting", store=False),
            "store": Command(self.store_cmd, "store", "learners, attempts and corrections stored", admin=True),
        }

    def handle(self, text, *, learner: str | None = None, user: str | None = None, account: str | None = None) -> Reply:
        if not isinstance(text, str) or not text.strip():
            return error("empty_command", "say `help` to see what I can do")
        if len(text) > MAX_TEXT:
            return error("command_too_long", f"commands are at most {MAX_TEXT} characters")
        if learner is not None and not (isinstance(learner, str) and LEARNER.fullmatch(learner)):
            return error("invalid_learner", "a learner name is 1–64 letters, digits or . _ - @")
        name, *args = text.strip().split()
        cmd = self.commands.get(name.lower().lstrip("/"))
        if cmd is None:
            return error("unknown_command", f"I don't know `{name[:32]}`: say `help`")
        if cmd.admin and not self.is_admin(user):
            return error("forbidden", f"`{cmd.usage}` is for admins (INKBUS_CHAT_ADMINS)")
        if cmd.store and self.store is None:
            return error("store_unavailable", "the progress store is not available right now")
        try:
            if learner is None and account is not None and cmd.store:  # `help` works while the store is down
                learner = self.store.linked_learner(account) or account_learner(account)
            return cmd.fn(args, learner=learner, user=user, account=account)
        except SQLAlchemyError:
            log.exception("chat command %s failed on the progress store", name)
            return error("store_unavailable", "the progress store is not available right now")

    def is_admin(self, user: str | None) -> bool:
        return bool(user) and user in self.admins

    def _whose(self, args, learner: str | None, user: str | None) -> str | Reply:
        """The learner a command is about: the caller, or (admins only) the one named."""
        if args:
            if len(args) != 1 or not LEARNER.fullmatch(args[0]):
                return error("invalid_learner", "a learner name is 1–64 letters, digits or . _ - @")
            if args[0] != learner and not self.is_admin(user):
                return error("forbidden", "you can see and change only your own progress (admins may name a learner)")
            return args[0]
        return learner if learner is not None else error("no_identity", NO_IDENTITY)

    # -- learner commands
    def help(self, args, **_ctx) -> Reply:
        admin = self.is_admin(_ctx.get("user"))
        shown = [(c.usage, c.about) for c in self.commands.values() if not c.admin or admin]
        if admin:
            shown += [("stats <learner>", "a learner's progress"), ("export <learner>", "what is stored about them"),
                      ("forget <learner>", "delete a learner's data")]  # fmt: skip
        return Reply(title="Inkbus commands", fields=shown)

    @staticmethod
    def _char(args) -> str | Reply:
        if len(args) != 1 or args[0] not in CHARSET:
            return error("invalid_char", "name one character: a digit 0–9 or a letter a–z / A–Z")
        return args[0]

    def practice(self, args, *, learner: str | None, **_ctx) -> Reply:
        if args:
            char = self._char(args)
            if isinstance(char, Reply):
                return char
        else:  # the character this learner misses most, else any
            missed = self.store.stats(learner)["most_missed"] if learner else []
            char = missed[0]["char"] if missed else random.choice(CHARSET)
        return Reply(
            title=f"Practise {char}",
            text=f"Draw {article(char)} {char} on the pad, then press Check.",
            fields=[("How", tip(char))],
            data={"target": char},
        )

    def hint(self, args, **_ctx) -> Reply:
        char = self._char(args)
        if isinstance(char, Reply):
            return char
        fields = [("How", tip(char))]
        others = sorted(lookalikes(char) | {seen for (t, seen) in CONFUSION_HINTS if t == char})
        fields += [(f"Not {article(o)} {o}", confusion_hint(char, o)) for o in others[:4]]
        return Reply(title=f"Writing {char}", fields=fields, data={"char": char})

    def stats(self, args, *, learner: str | None, user: str | None = None, **_ctx) -> Reply:
        who = self._whose(args, learner, user)
        if isinstance(who, Reply):
            return who
        s = self.store.stats(who)
        if not s["attempts"]:
            return Reply(title=f"Progress of {who}", text="no practice yet: say `practice` to start", data=s)
        missed = ", ".join(f"{m['char']} ({m['misses']})" for m in s["most_missed"]) or "none"
        recent = ", ".join(f"{d['day'][5:]}: {d['correct']}/{d['attempts']}" for d in s["days"][-7:]) or "—"
        return Reply(
            title=f"Progress of {who}",
            fields=[
                ("Attempts", str(s["attempts"])),
                ("Correct", f"{s['correct']} ({round(100 * s['accuracy'])}%)"),
                ("Streak", f"{s['streak']} (best {s['best_streak']})"),
                ("Most missed", missed),
                ("Last days", recent),
            ],
            data=s,
        )

    def correct(self, args, *, learner: str | None, **_ctx) -> Reply:
        char = self._char(args)
        if isinstance(char, Reply):
            return char
        if learner is None:
            return error("no_identity", NO_IDENTITY)
        done = self.store.correct_latest(learner, char)  # the caller's own latest attempt, never anyone else's
        if done is None:
            return error("no_attempt", "you have no drawing to label yet: practise first")
        cid, attempt = done
        return Reply(
            title="Thanks: noted for training",
            text=f"your last drawing (graded as {attempt.predicted}) is saved as {article(char)} {char}.",
            data={"correction_id": cid, "attempt_id": attempt.id},
        )

    # -- the caller's own data: linking, export, erasure
    def link(self, args, *, learner: str | None, account: str | None = None, **_ctx) -> Reply:
        if account is None:  # the page: hand out a code for a chat account to use
            if args:
                return error("invalid_request", "type `link CODE` in Slack or Discord, not here")
            if learner is None:
                return error("no_identity", NO_IDENTITY)
            code = self.store.new_link_code(learner, self.link_ttl_s)
            minutes = max(1, self.link_ttl_s // 60)
            return Reply(
                title=f"Your link code: {code}",
                text=f"In Slack or Discord type `/inkbus link {code}` within {minutes} minutes (it works once).",
                data={"code": code, "expires_in_s": self.link_ttl_s},
            )
        if len(args) != 1:
            return error("invalid_code", "say `link` in the page's chat for a code, then `link CODE` here")
        linked = self.store.redeem_link_code(args[0], account)
        if linked is None:
            return error("invalid_code", "that code is unknown, used or expired: ask the page's chat for a new one")
        return Reply(title="Linked", text="this chat account now practises as your web learner", data={"linked": True})

    def unlink(self, args, *, account: str | None = None, **_ctx) -> Reply:
        if account is None:
            return error("invalid_request", "`unlink` is for a linked Slack or Discord account")
        done = self.store.unlink(account)
        return Reply(title="Unlinked" if done else "Not linked", data={"unlinked": done})

    def export(self, args, *, learner: str | None, user: str | None = None, **_ctx) -> Reply:
        who = self._whose(args, learner, user)
        if isinstance(who, Reply):
            return who
        data = self.store.export(who)
        fields = [(k.replace("_", " ").capitalize(), str(len(data[k]))) for k in ("attempts", "corrections")]
        fields.append(("Linked accounts", ", ".join(x["account"] for x in data["linked_accounts"]) or "none"))
        return Reply(
            title=f"Data stored about {who}",
            text="The page's “Download my data” link (GET /api/v1/me/data) has all of it, ink included.",
            fields=fields,
            data={k: len(v) if isinstance(v, list) else v for k, v in data.items()},
        )

    def forget(self, args, *, learner: str | None, user: str | None = None, **_ctx) -> Reply:
        who = self._whose(args, learner, user)
        if isinstance(who, Reply):
            return who
        n = self.store.forget(who)
        return Reply(title=f"Forgot {who}", text=f"{n} rows deleted", data={"deleted": n})

    # -- system commands
    def status_cmd(self, args, **_ctx) -> Reply:
        st = self.status.snapshot()
        p95 = "—" if st["p95_ms"] is None else f"{st['p95_ms']:.0f} ms over {st['samples']} answers"
        return Reply(
            title="Inkbus status",
            fields=[
                ("Broker", "reachable" if st["broker"] else "unreachable"),
                ("Workers consuming", str(st["workers"])),
                ("Jobs queued", "—" if st["queued"] is None else str(st["queued"])),
                ("Model", st["model"] or "— (no answer seen yet)"),
                ("Recent p95 latency", p95),
            ],
            data=st,
        )

    def queue(self, args, **_ctx) -> Reply:
        st = self.status.snapshot()
        if not st["broker"]:
            return error("broker_unavailable", "the message broker is unreachable")
        return Reply(
            title="Recognition queue",
            fields=[("Jobs queued", str(st["queued"])), ("Workers consuming", str(st["workers"]))],
            data={"queued": st["queued"], "workers": st["workers"]},
        )

    # -- ops commands (admins only)
    def store_cmd(self, args, **_ctx) -> Reply:
        c = self.store.counts()
        return Reply(title="Progress store", fields=[(k.capitalize(), str(v)) for k, v in c.items()], data=c)
