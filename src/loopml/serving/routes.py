"""What a server serves at one moment: :class:`Routes`, built from a config and swapped whole.

A request reads the service's routes once and uses that object to the end (the router, the
slots, the guardrails, the fallback), so a change of the deployment (a canary started,
resized or stopped, a shadow added, the champion swapped) is one attribute assignment: no
request sees half of an old deployment and half of a new one.

:func:`build_routes` loads every version the new routes need **before** they are swapped in;
a slot whose ref, role and runtime are unchanged is reused as it is (it keeps following its
alias), so a resize of the canary loads nothing. A load that fails raises, and the caller
keeps serving the old routes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from loopml.core.errors import NotFoundError
from loopml.registry import ModelRegistry
from loopml.registry.loaded import RuntimeChoice
from loopml.registry.refs import parse_model_ref
from loopml.serving.config import ServeConfig
from loopml.serving.deployment import fallback_slot, guardrails_for
from loopml.serving.fallbacks import DeclaredFallback, declared_fallback, is_declared
from loopml.serving.guardrails import Guardrails
from loopml.serving.routing import CANARY, CHAMPION, FALLBACK, SHADOW, Router
from loopml.serving.slot import ModelSlot, Served

#: Builds the callback a followed slot calls after a swap, from the slot's key.
SwapHook = Callable[[str], Callable[[Served | None, Served], None]]


def shadow_key(index: int) -> str:
    """The key of the ``index``-th shadow's slot: ``shadow``, ``shadow-2``, ``shadow-3``..."""
    return SHADOW if index == 0 else f"{SHADOW}-{index + 1}"


def is_shadow(key: str) -> bool:
    """Whether a slot key names a shadow."""
    return key == SHADOW or key.startswith(f"{SHADOW}-")


@dataclass(frozen=True)
class Routes:
    """Everything one request needs to be routed and answered.

    Attributes:
        config: What these routes serve.
        router: The canary's share (0 when there is no canary route).
        slots: ``champion``, ``canary``, ``shadow``/``shadow-2``/..., ``fallback`` (those
            that exist).
        declared: A declared fallback (a constant or a heuristic), if any.
        guardrails: The parsed rules, if any.
    """

    config: ServeConfig
    router: Router
    slots: Mapping[str, ModelSlot]
    declared: DeclaredFallback | None
    guardrails: Guardrails | None

    @property
    def shadows(self) -> list[ModelSlot]:
        """The shadow slots, in order."""
        return [slot for key, slot in self.slots.items() if is_shadow(key)]

    def with_fallback(self, slot: ModelSlot | None) -> Routes:
        """These routes with another registered fallback (None: none)."""
        slots = {key: s for key, s in self.slots.items() if key != FALLBACK}
        return replace(self, slots=slots if slot is None else {**slots, FALLBACK: slot})


def build_routes(
    registry: ModelRegistry,
    config: ServeConfig,
    *,
    seed: int | None,
    on_swap: SwapHook,
    reuse: Mapping[str, ModelSlot] | None = None,
) -> Routes:
    """Load what ``config`` serves and return its routes (nothing is swapped here).

    Args:
        registry: Where refs are resolved and loaded from.
        config: The routes wanted.
        seed: Seed of the canary's random choice for requests without a key.
        on_swap: The callback of the champion's and canary's slots, by key.
        reuse: The slots served now: one with the same key, ref, role and runtime is kept.

    Raises:
        LoopmlError: A ref does not resolve (except a canary alias not set yet at 0 %), a
            version fails to load, the fallback or the guardrails are invalid.
    """
    old = reuse or {}

    def slot(key: str, role: str, ref: str, runtime: RuntimeChoice) -> ModelSlot:
        kept = old.get(key)
        if kept is not None and (kept.ref, kept.role, kept.runtime) == (ref, role, runtime):
            return kept
        hook = on_swap(key) if role in (CHAMPION, CANARY) else None
        return ModelSlot(registry, ref, role=role, runtime=runtime, on_swap=hook)

    slots = {CHAMPION: slot(CHAMPION, CHAMPION, config.model, config.runtime)}
    percent = 0.0
    if config.canary is not None:
        ref, share = config.canary
        router = Router(share, seed=seed)  # checks the share before anything loads
        try:
            slots[CANARY] = slot(CANARY, CANARY, ref, config.runtime)
            percent = router.percent
        except NotFoundError:
            if share != 0 or parse_model_ref(ref).alias is None:
                raise
            # an alias not set yet, at 0 %: no canary route until the routes change
    for index, ref in enumerate(config.shadows):
        key = shadow_key(index)
        slots[key] = slot(key, SHADOW, ref, "native")
    champion = slots[CHAMPION].current
    declared = None
    if config.fallback is not None and is_declared(config.fallback):
        declared = declared_fallback(
            config.fallback, name=parse_model_ref(config.model).name, classes=champion.classes
        )
    fallback = fallback_slot(registry, config, old.get(FALLBACK))
    if fallback is not None:
        slots[FALLBACK] = fallback
    return Routes(
        config=config,
        router=Router(percent, seed=seed),
        slots=slots,
        declared=declared,
        guardrails=guardrails_for(registry, config, champion.model.version),
    )
