"""``inkbus bots``: run the chat adapters whose tokens are configured, and say which are off and why."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from chatbots.core import ChatCore
from chatbots.feed import BusFeed, broker_queue_stats
from chatbots.status import LiveStatus
from foundation.settings import Settings

log = logging.getLogger("inkbus.bots")


@dataclass(frozen=True)
class Adapter:
    name: str
    on: bool
    why: str


def plan(s: Settings) -> list[Adapter]:
    slack_bot, app, secret = (
        t.get_secret_value() for t in (s.slack_bot_token, s.slack_app_token, s.slack_signing_secret)
    )
    out = []
    if app and slack_bot:
        out.append(Adapter("slack-socket-mode", True, "INKBUS_SLACK_APP_TOKEN and INKBUS_SLACK_BOT_TOKEN are set"))
    else:
        out.append(Adapter("slack-socket-mode", False, "needs INKBUS_SLACK_APP_TOKEN and INKBUS_SLACK_BOT_TOKEN"))
    out.append(Adapter("slack-slash-http", bool(secret), "served by the edge at POST /api/v1/slack/commands"
                       if secret else "INKBUS_SLACK_SIGNING_SECRET is empty"))  # fmt: skip
    if slack_bot and s.slack_channel:
        out.append(Adapter("slack-channel-posts", True, f"feedback and alerts go to {s.slack_channel}"))
    else:
        out.append(Adapter("slack-channel-posts", False, "needs INKBUS_SLACK_BOT_TOKEN and INKBUS_SLACK_CHANNEL"))
    token = s.discord_bot_token.get_secret_value()
    out.append(Adapter("discord", bool(token), "app commands; posts to channel "
                       f"{s.discord_channel_id or '(none: INKBUS_DISCORD_CHANNEL_ID)'}"
                       if token else "INKBUS_DISCORD_BOT_TOKEN is empty"))  # fmt: skip
    out.append(Adapter("discord-http-interactions", bool(s.discord_public_key),
                       "served by the edge at POST /api/v1/discord/interactions" if s.discord_public_key
                       else "INKBUS_DISCORD_PUBLIC_KEY is empty"))  # fmt: skip
    return out


def run_bots(settings: Settings, adapters: list[Adapter]) -> None:
    """Blocks until interrupted. HTTP-only adapters run in the edge, not here."""
    from tutor.store import open_store

    on = {a.name for a in adapters if a.on}
    status = LiveStatus(broker_queue_stats(settings), settings.chat_latency_window)
    core = ChatCore(open_store(settings), status, settings.admins())
    sinks = [status.observe]
    if "slack-channel-posts" in on:
        from chatbots.slack import SlackPoster

        sinks.append(SlackPoster(settings))
    if "slack-socket-mode" in on:
        _start_socket_mode(settings, core)
    discord_client = None
    if "discord" in on:
        import discord

        from chatbots.discord_bot import InkbusDiscord

        discord.http.Route.BASE = settings.discord_api_url  # one bot per process: the REST base is global
        discord_client = InkbusDiscord(core, settings.discord_channel_id, settings.discord_guild_id)
        sinks.append(discord_client.post_event_threadsafe)
    feed = BusFeed(settings, sinks)
    thread = threading.Thread(target=feed.run, name="bus-feed", daemon=True)
    thread.start()
    try:
        if discord_client is not None:
            discord_client.run(settings.discord_bot_token.get_secret_value(), log_handler=None)
        else:
            thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        feed.stop()


def _start_socket_mode(settings: Settings, core: ChatCore) -> None:
    from slack_sdk import WebClient
    from slack_sdk.socket_mode import SocketModeClient

    from chatbots.slack import socket_mode_listener

    web = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
    client = SocketModeClient(app_token=settings.slack_app_token.get_secret_value(), web_client=web)
    client.socket_mode_request_listeners.append(socket_mode_listener(core))
    client.connect()  # its own threads; slash commands are acked with the reply itself
    log.info("Slack Socket Mode connected")
