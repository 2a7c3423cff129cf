"""The one settings module: every ``LOOPML_*`` variable, its type, default and meaning.

Precedence, highest first: an explicit argument > the environment > the project file
``loopml.toml`` > the default. Settings are read at call time by :func:`resolve_settings`
into a frozen :class:`Settings` that is passed down; nothing reads the environment elsewhere.

The project root is the nearest folder, from the working directory upward, that holds a
``.loopml/`` folder or a ``loopml.toml`` file (like ``.git``); without one it is the working
directory, and ``.loopml/`` is created there on the first write.

Example ``loopml.toml``::

    experiment = "credit"
    db_url = "postgresql+psycopg://127.0.0.1:5432/loopml"
    artifacts_url = "s3://ml-bucket/loopml"
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.core.origin import current_origin

HOME_DIRNAME = ".loopml"
PROJECT_FILE = "loopml.toml"
#: Settings that are secrets: read from arguments and the environment, never from the
#: project file (which is often committed), and never printed.
SECRETS = frozenset({"audit_key", "token"})


@dataclass(frozen=True)
class Variable:
    """One setting: its name in ``Settings``, its environment variable, type and doc."""

    name: str
    env: str
    kind: type
    default: Any
    doc: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "home",
        "LOOPML_HOME",
        Path,
        None,
        "Folder of the embedded store (SQLite file + artifacts). Default: .loopml/ "
        "found upward from the working directory.",
    ),
    Variable(
        "db_url",
        "LOOPML_DB_URL",
        str,
        None,
        "SQLAlchemy URL of the metadata store. Default: sqlite:///<home>/loopml.db.",
    ),
    Variable(
        "artifacts_url",
        "LOOPML_ARTIFACTS_URL",
        str,
        None,
        "fsspec URL or path of the artifact store. Default: <home>/artifacts.",
    ),
    Variable(
        "logs_url",
        "LOOPML_LOGS_URL",
        str,
        None,
        "fsspec URL or path of the prediction log store (Parquet). Default: <home>/logs.",
    ),
    Variable(
        "experiment",
        "LOOPML_EXPERIMENT",
        str,
        "default",
        "Experiment used when start_run() is not given one.",
    ),
    Variable(
        "capture_env",
        "LOOPML_CAPTURE_ENV",
        bool,
        True,
        "Record git commit/diff, entry point, Python, packages, host and user on each run.",
    ),
    Variable(
        "flush_interval",
        "LOOPML_FLUSH_INTERVAL",
        float,
        0.5,
        "Seconds between background writes of buffered metrics.",
    ),
    Variable(
        "retry_window",
        "LOOPML_RETRY_WINDOW",
        float,
        24.0,
        "Hours a store keeps the idempotency key of each metric batch a server applied: a "
        "batch sent again within them is applied once. Older keys are pruned as runs end.",
    ),
    Variable(
        "user",
        "LOOPML_USER",
        str,
        None,
        "Who is acting, recorded on versions, reviews and events. Default: the login name.",
    ),
    Variable(
        "allow_unapproved_champion",
        "LOOPML_ALLOW_UNAPPROVED_CHAMPION",
        bool,
        False,
        "Let the 'champion' alias point at a version that is not approved.",
    ),
    Variable(
        "trusted_types",
        "LOOPML_TRUSTED_TYPES",
        str,
        None,
        "Comma-separated types (qualified names) a skops model may hold beyond skops' "
        "defaults, trusted by this loader. Default: none.",
    ),
    Variable(
        "audit_key",
        "LOOPML_AUDIT_KEY",
        str,
        None,
        "Secret key of the audit log: each event's hash becomes an HMAC-SHA-256 that whoever "
        "lacks the key cannot recompute. Environment only (never loopml.toml). Default: none "
        "(plain SHA-256).",
    ),
    Variable(
        "server_url",
        "LOOPML_SERVER_URL",
        str,
        None,
        "URL of a `loopml server` (e.g. 'http://mlhost:5000'): the SDK and CLI then work "
        "through its REST API instead of opening the stores themselves. Default: none "
        "(the embedded or configured stores).",
    ),
    Variable(
        "token",
        "LOOPML_TOKEN",
        str,
        None,
        "API token sent to the server of LOOPML_SERVER_URL (from `loopml tokens create`). "
        "Environment only (never loopml.toml). Default: none.",
    ),
    Variable(
        "ray_address",
        "LOOPML_RAY_ADDRESS",
        str,
        None,
        "Address of the Ray cluster executor='ray' joins (ray.init(address=...)), e.g. "
        "'ray://head:10001' or 'auto'. Default: a local Ray started in this process.",
    ),
)
_BY_NAME = {v.name: v for v in VARIABLES}


@dataclass(frozen=True)
class Settings:
    """The resolved configuration. Build it with :func:`resolve_settings`.

    Attributes:
        home: Folder of the embedded store.
        db_url: SQLAlchemy URL of the metadata store.
        artifacts_url: fsspec URL or local path of the artifact store.
        logs_url: fsspec URL or local path of the prediction log store.
        experiment: Default experiment name.
        capture_env: Whether runs capture code and environment on their own.
        flush_interval: Seconds between background metric writes.
        retry_window: Hours a metric batch's idempotency key is kept (then pruned).
        user: Who is acting (None: the login name).
        allow_unapproved_champion: Whether ``champion`` may point at an unapproved version.
        trusted_types: Types a skops model may hold beyond skops' defaults, comma-separated
            (None: none).
        ray_address: The Ray cluster ``executor="ray"`` joins (None: a local Ray).
        server_url: The ``loopml server`` the SDK talks to (None: the stores themselves).
        token: The API token sent to that server; never shown in the repr.
        audit_key: The audit log's secret key (None: plain SHA-256 hashes); never shown in
            the repr.
        project_root: Folder the project was found in.
        project_file: The ``loopml.toml`` that was read, if any.
        sources: For each setting, where its value came from
            (``argument``, ``environment``, ``loopml.toml`` or ``default``).
    """

    home: Path
    db_url: str
    artifacts_url: str
    logs_url: str = ""
    experiment: str = "default"
    capture_env: bool = True
    flush_interval: float = 0.5
    retry_window: float = 24.0
    user: str | None = None
    allow_unapproved_champion: bool = False
    trusted_types: str | None = None
    ray_address: str | None = None
    server_url: str | None = None
    token: str | None = field(default=None, repr=False)
    audit_key: str | None = field(default=None, repr=False)
    project_root: Path = field(default_factory=Path.cwd)
    project_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_embedded(self) -> bool:
        """True when the metadata store is the SQLite file under ``home``."""
        return self.db_url.startswith("sqlite")


def current_user(settings: Settings | None = None) -> str:
    """Who is acting: the user of the current request's token when a server handles one
    (:func:`loopml.core.origin.current_origin`), else ``settings.user`` (``LOOPML_USER``)
    when set, else the login name."""
    user = current_origin().user
    if user:
        return user
    if settings is not None and settings.user:
        return settings.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def find_project_root(start: Path) -> tuple[Path, Path | None]:
    """Walk upward from ``start`` to the first folder holding ``.loopml/`` or ``loopml.toml``.

    Returns:
        The project root (``start`` itself when nothing is found) and the project file path
        when one exists there.
    """
    start = start.resolve()
    for folder in (start, *start.parents):
        toml_path = folder / PROJECT_FILE
        if (folder / HOME_DIRNAME).is_dir() or toml_path.is_file():
            return folder, (toml_path if toml_path.is_file() else None)
    return start, None


def _convert(var: Variable, raw: Any, origin: str) -> Any:
    try:
        if var.kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        if var.kind is float:
            value = float(raw)
            if not value > 0:
                raise ValueError(raw)
            return value
        if var.kind is Path:
            return Path(os.path.expanduser(str(raw)))
        text = str(raw)
        if not text.strip():
            raise ValueError(raw)
        return text
    except (TypeError, ValueError):
        expected = {
            bool: "true or false",
            float: "a positive number",
            Path: "a folder path",
            str: "a non-empty string",
        }[var.kind]
        raise InvalidArgumentError(
            f"The setting {var.env} (from {origin}) must be {expected}. Got {raw!r} instead."
        ) from None


def _read_project_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"The project file {path} is not valid TOML: {exc}.") from None
    for key in data:
        if key not in _BY_NAME:
            raise InvalidArgumentError(
                f"Unknown setting {key!r} in {path}; known settings are "
                f"{', '.join(sorted(_BY_NAME))}.{did_you_mean(key, _BY_NAME)}"
            )
        if key in SECRETS:
            raise InvalidArgumentError(
                f"The setting {key!r} in {path} is a secret and is not read from the project "
                f"file (it is often committed). Remove it there and set {_BY_NAME[key].env} "
                "in the environment of the processes that write the store."
            )
    return data


def resolve_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the configuration from arguments, environment, project file and defaults.

    Args:
        overrides: Explicit values (highest precedence), keyed by setting name
            (``home``, ``db_url``, ...). ``None`` values are ignored.
        cwd: Folder to start the project search from (default: the working directory).
        environ: Environment to read (default: ``os.environ``).

    Returns:
        The frozen settings, with ``sources`` saying where each value came from.

    Raises:
        InvalidArgumentError: A value has the wrong type, or the project file names an
            unknown setting.
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in overrides:
        if key not in _BY_NAME:
            raise InvalidArgumentError(f"Unknown setting {key!r}.{did_you_mean(key, _BY_NAME)}")
    root, project_file = find_project_root(cwd or Path.cwd())
    file_values = _read_project_file(project_file) if project_file else {}

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    lookups: list[tuple[str, Callable[[Variable], Any]]] = [
        ("argument", lambda v: overrides.get(v.name)),
        ("environment", lambda v: (environ.get(v.env) or "").strip() or None),
        (PROJECT_FILE, lambda v: file_values.get(v.name)),
    ]
    for var in VARIABLES:
        for origin, lookup in lookups:
            raw = lookup(var)
            if raw is not None:
                values[var.name] = _convert(var, raw, origin)
                sources[var.name] = origin
                break
        else:
            values[var.name] = var.default
            sources[var.name] = "default"

    home: Path = values["home"] or root / HOME_DIRNAME
    if not home.is_absolute():
        home = (root if sources["home"] == PROJECT_FILE else Path.cwd()) / home
    values["home"] = home
    if values["db_url"] is None:
        values["db_url"] = f"sqlite:///{home / 'loopml.db'}"
    if values["artifacts_url"] is None:
        values["artifacts_url"] = str(home / "artifacts")
    if values["logs_url"] is None:
        values["logs_url"] = str(home / "logs")
    return Settings(project_root=root, project_file=project_file, sources=sources, **values)
