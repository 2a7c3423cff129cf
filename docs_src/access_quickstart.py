"""Tokens, roles and the audit log (docs/server.md), in Python over the embedded store."""

import sqlite3

from loopml.client import LoopmlClient
from loopml.errors import AccessDeniedError, UnauthenticatedError
from loopml.governance import Action, TokenService, parse_anchor, require, verify_chain

client = LoopmlClient()
tokens = TokenService(client.backend)

# A token is shown once; the store keeps only the SHA-256 of its text.
issued = tokens.create(user="ada", role="editor", expires="90d", note="laptop")
stored = client.backend.tokens.get(issued.token.token_id)
assert stored is not None and issued.text not in stored[1]

# A server turns the token into who it stands for, and checks each action's role.
ada = tokens.authorize(issued.text)
require(ada, Action.WRITE)  # an editor may write
try:
    require(ada, Action.MOVE_CHAMPION)
except AccessDeniedError as error:
    print(error)  # User 'ada' (token ..., role editor) may not move champion: that needs ...
tokens.revoke(issued.token.token_id, reason="laptop lost")
try:
    tokens.authorize(issued.text)
except UnauthenticatedError as error:
    print(error)  # The API token ... of user 'ada' is revoked (since ...) ...

# Every change is an entry of the hash-chained audit log, runs included.
with client.start_run(experiment="audit-demo") as run:
    run.log_metric("loss", 0.5)  # a metric point is not a change: no entry
report = verify_chain(client.backend.events)
assert report.intact and report.entries == 4  # token created, revoked; run created, ended
head = client.backend.events.head()
assert head is not None and head.event.kind == "run.ended"
anchor = parse_anchor(f"{head.seq}:{head.hash}")  # keep this outside the database

# Someone edits an entry directly in the database: verify names it.
db = sqlite3.connect(client.settings.home / "loopml.db")
with db:
    db.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
db.close()
report = verify_chain(client.backend.events, anchor=anchor)
assert report.problem is not None
assert (report.problem.seq, report.problem.kind, report.problem.problem) == (
    2,
    "token.revoked",
    "edited",
)
print(report.problem.detail)
