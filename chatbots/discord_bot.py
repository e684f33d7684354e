"""Discord front end: app commands (gateway bot), HTTP interactions (Ed25519-verified), and a channel poster.

Every command is a thin callback over ``ChatCore``; replies are embeds. The core touches the database,
so callbacks run it in a thread and the bot's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
import re

import discord
from discord import app_commands
from flask import Blueprint, current_app, jsonify, request
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from chatbots.core import ChatCore, Reply
from chatbots.slack import MAX_AGE_S, event_reply, replay_guard, request_age
from foundation.http_errors import error_response
from foundation.safejson import BodyError, load_body

log = logging.getLogger("inkbus.discord")
DISCORD_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")
EPHEMERAL = 64  # interaction response flag: only the caller sees it

bp = Blueprint("discord", __name__)


def reply_embed(reply: Reply) -> discord.Embed:
    colour = discord.Colour.green() if reply.ok else discord.Colour.orange()
    embed = discord.Embed(title=reply.title[:256], description=reply.text[:4000] or None, colour=colour)
    for name, value in reply.fields[:25]:  # Discord allows 25 fields
        embed.add_field(name=name[:256], value=(value or "—")[:1024], inline=len(value) < 40)
    return embed


# -- gateway bot with app commands
def build_tree(client: discord.Client, core: ChatCore) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)

    async def answer(interaction: discord.Interaction, text: str) -> None:
        user = str(interaction.user.id)
        reply = await asyncio.to_thread(core.handle, text, account=f"discord:{user}", user=user)
        await interaction.response.send_message(embed=reply_embed(reply), ephemeral=not reply.ok)

    @tree.command(name="help", description="What the Inkbus tutor can do")
    async def help_(interaction: discord.Interaction):
        await answer(interaction, "help")

    @tree.command(name="practice", description="Get a character to practise, with a tip")
    @app_commands.describe(char="A digit or a letter (empty: one you often miss)")
    async def practice(interaction: discord.Interaction, char: str | None = None):
        await answer(interaction, f"practice {char or ''}")

    @tree.command(name="hint", description="How to write a character, and what it gets mistaken for")
    async def hint(interaction: discord.Interaction, char: str):
        await answer(interaction, f"hint {char}")

    @tree.command(name="stats", description="Your practice progress (admins: a learner's)")
    async def stats(interaction: discord.Interaction, learner: str | None = None):
        await answer(interaction, f"stats {learner or ''}")

    @tree.command(name="link", description="Practise as your web learner: the page's chat `link` gives the code")
    async def link(interaction: discord.Interaction, code: str):
        await answer(interaction, f"link {code}")

    @tree.command(name="status", description="Workers, queue, model and recent latency")
    async def status(interaction: discord.Interaction):
        await answer(interaction, "status")

    @tree.command(name="queue", description="Recognition jobs waiting")
    async def queue(interaction: discord.Interaction):
        await answer(interaction, "queue")

    @tree.command(name="inkbus", description="Any Inkbus chat command, e.g. `forget ann` (admins)")
    async def raw(interaction: discord.Interaction, command: str):
        await answer(interaction, command)

    return tree


class InkbusDiscord(discord.Client):
    """The gateway bot: syncs the app commands on start and posts bus events into ``channel_id``."""

    def __init__(self, core: ChatCore, channel_id: int, guild_id: int = 0):
        super().__init__(intents=discord.Intents.default())
        self.channel_id, self.guild_id = channel_id, guild_id
        self.tree = build_tree(self, core)

    async def setup_hook(self) -> None:
        guild = discord.Object(self.guild_id) if self.guild_id else None
        if guild:
            self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def post_event(self, event: dict) -> None:
        reply = event_reply(event)
        if reply is not None and self.channel_id:
            await self.get_partial_messageable(self.channel_id).send(embed=reply_embed(reply))

    def post_event_threadsafe(self, event: dict) -> None:
        """Called from the bus feed's thread: hand the post to the bot's loop and wait for it."""
        asyncio.run_coroutine_threadsafe(self.post_event(event), self.loop).result(timeout=30)


# -- HTTP interactions endpoint (served by the edge), an alternative to the gateway
def verify(public_key_hex: str, headers, body: bytes, now: float | None = None) -> tuple[int, str, str] | None:
    sig, ts = headers.get("X-Signature-Ed25519"), headers.get("X-Signature-Timestamp")
    if not sig or not ts:
        return 400, "missing_signature", "X-Signature-Ed25519 and X-Signature-Timestamp are required"
    age = request_age(ts, now)
    if age is None or not DISCORD_SIGNATURE.fullmatch(sig):
        return 401, "bad_signature", "X-Signature-Timestamp must be Unix seconds and X-Signature-Ed25519 hex"
    if age > MAX_AGE_S:
        return 401, "stale_request", "the request timestamp is older than 5 minutes"
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(ts.encode() + body, bytes.fromhex(sig))
    except (BadSignatureError, ValueError):
        return 401, "bad_signature", "the request signature does not match"
    return None


def _obj(v) -> dict:
    return v if isinstance(v, dict) else {}


def _text(v) -> str | None:
    return v if isinstance(v, str) else None


def interaction_text(data: dict) -> str:
    """``/hint char:q`` -> ``hint q``; ``/inkbus command:forget ann`` -> ``forget ann``."""
    name = str(data.get("name", ""))
    options = data.get("options")
    options = options if isinstance(options, list) else []
    values = [str(o.get("value", "")) for o in options if isinstance(o, dict)]
    return " ".join(values) if name == "inkbus" else " ".join([name.removesuffix("_"), *values])


@bp.post("/api/v1/discord/interactions")
def discord_interaction():
    key = current_app.config["INKBUS"].discord_public_key
    if not key:
        return error_response(404, "discord_disabled", "Discord is not configured (INKBUS_DISCORD_PUBLIC_KEY)")
    body = request.get_data(cache=False)
    problem = verify(key, request.headers, body)
    if problem:
        return error_response(*problem)
    try:
        payload = load_body(body, current_app.config["INKBUS"].max_body_bytes)
    except BodyError as exc:
        return error_response(exc.status, exc.code, f"{exc.message} (the body must be a JSON interaction)")
    if not isinstance(payload, dict):
        return error_response(422, "invalid_request", "the interaction must be a JSON object")
    if not replay_guard("discord").first_time(request.headers["X-Signature-Ed25519"]):
        return error_response(401, "replayed_request", "this signed request was already handled")
    if payload.get("type") == 1:  # PING
        return jsonify({"type": 1})
    if payload.get("type") != 2:
        return error_response(422, "invalid_request", "only application commands are handled")
    # Signed by Discord, still checked for shape: any field may be missing or of another type.
    user = _obj(_obj(payload.get("member")).get("user")) or _obj(payload.get("user"))
    core: ChatCore = current_app.extensions["inkbus.chat"]
    uid = user.get("id")
    uid = str(uid) if isinstance(uid, (str, int)) and not isinstance(uid, bool) and str(uid) else None
    account = f"discord:{uid}" if uid else None
    reply = core.handle(interaction_text(_obj(payload.get("data"))), account=account, user=uid)
    data = {"embeds": [reply_embed(reply).to_dict()], **({} if reply.ok else {"flags": EPHEMERAL})}
    return jsonify({"type": 4, "data": data})
