"""WeRoBot answering a text message, served as WSGI (its Bottle app).

Environment:
  WEROBOT_SESSIONS=0        disable sessions (SESSION_STORAGE=False)
  WEROBOT_SESSION_FILE=...  SQLite file of the default session storage; unset: WeRoBot's own
                            default, werobot_session.sqlite3 in the working directory

With sessions on (WeRoBot's default), every message reads and writes the sender's session in
SQLite. Serve with: gunicorn bench.peers.werobot_app:app (from the repository root, no --preload:
each worker must open its own SQLite connection).
"""

import os

import werobot
from werobot.session.sqlitestorage import SQLiteStorage

from bench.peers.common import REPLY_TEXT, TOKEN


def _session_storage():
    if os.environ.get("WEROBOT_SESSIONS", "1") == "0":
        return False
    path = os.environ.get("WEROBOT_SESSION_FILE")
    return SQLiteStorage(path) if path else None


robot = werobot.WeRoBot(token=TOKEN, SESSION_STORAGE=_session_storage())


@robot.text
def answer(message):
    return REPLY_TEXT


app = robot.wsgi
