"""Deployments: a record in the store that a model server follows live (docs/serving.md)."""

import asyncio

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.client import LoopmlClient
from loopml.errors import ConflictError, NotFoundError
from loopml.serving import InferenceService, ServeConfig

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :5]
for c in (1.0, 0.01):
    model = LogisticRegression(C=c, max_iter=1000).fit(X, y)
    version = loopml.models.register(model, "cancer", input_example=X.head())
    loopml.models.approve(version.ref, comment="checked")
loopml.models.set_alias("cancer", "champion", 1)

# The champion, and a canary whose alias does not exist yet: fine while its share is 0.
prod = loopml.deployments.create(
    "prod", champion="cancer@champion", canary="cancer@challenger", reason="go live"
)
assert (prod.version, prod.canary.share) == (1, 0.0)
try:
    loopml.deployments.set("prod", canary_share=20)
except NotFoundError as error:
    print(error)  # ... field 'canary': Model 'cancer' has no alias 'challenger' ...

# A server following the record (in Python here; `loopml serve --deployment prod` alike).
client = LoopmlClient()
server = InferenceService(client.backend, ServeConfig(deployment="prod", poll_interval_s=0))
assert server.describe()["routes"] == {"champion": "cancer@1"}

loopml.models.set_alias("cancer", "challenger", 2)
started = loopml.deployments.set("prod", canary_share=20, reason="start the canary")
assert server.refresh()  # what the server does every --poll seconds
assert server.describe()["routes"] == {"champion": "cancer@1", "canary": "cancer@2"}


async def answer(keys: list[str]) -> list[str]:
    return [(await server.predict(X.head(1), key=key)).route for key in keys]


routes = asyncio.run(answer([f"customer-{i}" for i in range(200)]))
print(f"canary answered {routes.count('canary')} of 200 requests")  # about 20 %

# A stale write is refused: the record moved since version 1 was read.
try:
    loopml.deployments.set("prod", canary=None, expected_version=prod.version)
except ConflictError as error:
    print(error)  # Deployment 'prod' is at version 2, not 1 as expected: ...
stopped = loopml.deployments.set("prod", canary=None, expected_version=started.version)
assert server.refresh() and server.describe()["routes"] == {"champion": "cancer@1"}
asyncio.run(server.stop())

for event in loopml.deployments.history("prod"):
    print(event.data["version"], event.kind, event.data["changed"], event.reason)
assert [e.data["version"] for e in loopml.deployments.history("prod")] == [1, 2, 3]
