"""Discord front end: app commands (gateway bot), HTTP interactions (Ed25519-verified), and a channel poster.

Every command is a thin callback over ``ChatCore``; replies are embeds. The core touches the database,
so callbacks run it in a thread and the bot's event loop never blocks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import discord
from discord import app_commands
from flask import Blueprint, current_app, jsonify, request
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from chatbots.core import ChatCore, Reply
from chatbots.slack import event_reply
from inkbus.http_errors import error_response

log = logging.getLogger("inkbus.discord")
MAX_AGE_S = 300
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
        reply = await asyncio.to_thread(core.handle, text, learner=interaction.user.name[:64], user=user)
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

    @tree.command(name="stats", description="Practice progress")
    async def stats(interaction: discord.Interaction, learner: str | None = None):
        await answer(interaction, f"stats {learner or ''}")

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
    try:
        if abs((time.time() if now is None else now) - int(ts)) > MAX_AGE_S:
            return 401, "stale_request", "the request timestamp is older than 5 minutes"
        VerifyKey(bytes.fromhex(public_key_hex)).verify(ts.encode() + body, bytes.fromhex(sig))
    except (BadSignatureError, ValueError):
        return 401, "bad_signature", "the request signature does not match"
    return None


def interaction_text(data: dict) -> str:
    """``/hint char:q`` -> ``hint q``; ``/inkbus command:forget ann`` -> ``forget ann``."""
    name = str(data.get("name", ""))
    values = [str(o.get("value", "")) for o in data.get("options") or [] if isinstance(o, dict)]
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
        payload = json.loads(body)
    except ValueError:
        return error_response(400, "invalid_json", "the body must be a JSON interaction")
    if not isinstance(payload, dict):
        return error_response(422, "invalid_request", "the interaction must be a JSON object")
    if payload.get("type") == 1:  # PING
        return jsonify({"type": 1})
    if payload.get("type") != 2:
        return error_response(422, "invalid_request", "only application commands are handled")
    member = payload.get("member") or {}
    user = member.get("user") or payload.get("user") or {}
    core: ChatCore = current_app.extensions["inkbus.chat"]
    reply = core.handle(interaction_text(payload.get("data") or {}), learner=user.get("username"), user=user.get("id"))
    data = {"embeds": [reply_embed(reply).to_dict()], **({} if reply.ok else {"flags": EPHEMERAL})}
    return jsonify({"type": 4, "data": data})
