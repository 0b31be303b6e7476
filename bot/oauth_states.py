"""OAuth install states that leave the database when they expire, not only when used.

slack-sdk's SQLite3OAuthStateStore writes a row for every visit to /slack/install and deletes
it only when that install completes, so abandoned installs, reloads and crawlers add rows
forever. Purging on every issue keeps the table to the states of the last expiry window.
"""

from __future__ import annotations

import time
from contextlib import closing

from slack_sdk.oauth.state_store.sqlite3 import SQLite3OAuthStateStore


class ExpiringOAuthStateStore(SQLite3OAuthStateStore):
    def issue(self, *args, **kwargs) -> str:
        self.purge()
        return super().issue(*args, **kwargs)

    def purge(self) -> int:
        """Delete the expired states; how many there were."""
        with closing(self.connect()) as conn, conn:
            return conn.execute(
                "delete from oauth_states where expire_at <= ?", [time.time()]
            ).rowcount
