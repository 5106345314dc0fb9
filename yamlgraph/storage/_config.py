"""Errors, `${VAR}` expansion and option parsing for checkpointer config blocks."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PathLike = str | os.PathLike[str]


class CheckpointerConfigError(ValueError):
    """A checkpointer block is wrong: unknown type, missing option, unset variable.

    A ValueError so that callers validating a graph file can catch config
    mistakes of every kind with one except clause. ``source`` is the graph file
    the block came from (or None); it is part of the message.
    """

    def __init__(self, message: str, *, source: PathLike | None = None) -> None:
        self.detail = message
        self.source = os.fspath(source) if source is not None else None
        super().__init__(f"{self.source}: {message}" if self.source else message)

    def with_source(self, source: PathLike | None) -> CheckpointerConfigError:
        """This error naming `source`, unless it already names a file."""
        if self.source is not None or source is None:
            return self
        error = type(self)(self.detail, source=source)
        error.__cause__ = self.__cause__
        return error


class MissingPackage(CheckpointerConfigError):
    """A checkpointer type needs an optional package (an extra) that is not installed.

    ``extra`` names the extra of this distribution that installs it (None: the core).
    """

    def __init__(
        self,
        message: str,
        *,
        source: PathLike | None = None,
        package: str = "",
        extra: str | None = None,
    ) -> None:
        super().__init__(message, source=source)
        self.package = package
        self.extra = extra

    def with_source(self, source: PathLike | None) -> CheckpointerConfigError:
        error = super().with_source(source)
        if isinstance(error, MissingPackage):
            error.package, error.extra = self.package, self.extra
        return error


class UnsetEnvironmentVariable(CheckpointerConfigError):
    """A ``${VAR}`` without a default names a variable that is not set."""


class CheckpointerUnavailable(Exception):
    """The checkpointer's server (Redis, Postgres) cannot be reached or set up.

    Not a config error: the same config works once the server is up. The
    message names the URL with its password masked.
    """


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, *, source: PathLike | None = None) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of `value`, recursively.

    Secrets such as Redis passwords belong in the environment, not in graph
    files. ``${VAR:-default}`` uses the default when VAR is unset or empty (as
    the shell does). An unset VAR without a default raises
    CheckpointerConfigError naming the variable and `source`: expanding it to
    an empty string or leaving the literal would silently point the
    checkpointer somewhere else.
    """
    if isinstance(value, str):
        return _expand_string(value, source)
    if isinstance(value, Mapping):
        return {key: expand_env(item, source=source) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(expand_env(item, source=source) for item in value)
    return value


def _expand_string(text: str, source: PathLike | None) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        current = os.environ.get(name)
        if default is not None:
            return current if current else default
        if current is None:
            raise UnsetEnvironmentVariable(
                f"environment variable {name} is not set (used as ${{{name}}} in the "
                f"checkpointer config); set it, or give a default with ${{{name}:-value}}",
                source=source,
            )
        return current

    return _VAR.sub(replace, text)


def mask_url(url: str) -> str:
    """`url` with its password replaced by ``***``, for messages and logs.

    Handles URLs (``redis://user:secret@host:6379/0``) and libpq key=value
    strings (``host=db password=secret``).
    """
    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


def normalize_config(config: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """`config` as a dict with a lower-case ``type``: a string is the type name, None is memory."""
    if config is None:
        return {"type": "memory"}
    if isinstance(config, str):
        return {"type": config.strip().lower()}
    if not isinstance(config, Mapping):
        raise CheckpointerConfigError(
            f"the checkpointer config must be a mapping or a type name, not {type(config).__name__}"
        )
    result = dict(config)
    kind = result.get("type")
    if not isinstance(kind, str) or not kind.strip():
        raise CheckpointerConfigError("the checkpointer config needs a 'type' (e.g. type: memory)")
    result["type"] = kind.strip().lower()
    return result


def check_options(config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Reject keys a built-in type does not know, so a typo ('tll') is not silently ignored."""
    known = {"type", *allowed}
    unknown = sorted(set(config) - known)
    if unknown:
        raise CheckpointerConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for checkpointer type "
            f"{config['type']!r}; allowed: {', '.join(sorted(known))}"
        )


def required_string(config: Mapping[str, Any], key: str) -> str:
    """The non-empty string option `key`, or a config error saying it is needed."""
    value = config.get(key)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise CheckpointerConfigError(
            f"checkpointer type {config['type']!r} needs {key!r} (got {value!r})"
        )
    return value.strip()


#: The distribution whose extras install the optional parts (``pip install "NAME[redis]"``).
DISTRIBUTION = "yamlgraph-django"


def pip_line(extra: str | None) -> str:
    """The install command of one extra of this distribution (None: the core)."""
    return f'pip install "{DISTRIBUTION}[{extra}]"' if extra else f"pip install {DISTRIBUTION}"


def missing_package(kind: str, package: str, extra: str | None = None) -> MissingPackage:
    """The error for a checkpointer type whose optional package is not installed.

    It names the extra that brings the package (``pip install "yamlgraph-django[redis]"``)
    and the package itself, for projects that pin their own dependencies.
    """
    return MissingPackage(
        f"checkpointer type {kind!r} needs the {package} package, which is not installed: "
        f"{pip_line(extra)} (or pip install {package})",
        package=package,
        extra=extra,
    )


def module_installed(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (or its heavy deps)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_modules(kind: str, package: str, extra: str | None, *modules: str) -> None:
    """Raise :func:`missing_package` unless every one of `modules` is installed.

    Called by the types' config checks, so graph validation and the system checks
    name the missing extra before anything tries to connect.
    """
    if not all(module_installed(module) for module in modules):
        raise missing_package(kind, package, extra)


def optional_subclass(
    kind: str,
    package: str,
    base: str,
    build: Callable[[type], type],
    *,
    extra: str | None = None,
) -> Callable[[], type]:
    """A function returning ``build(<base class>)``, made on its first call and reused.

    ``base`` ("module:Class") lives in the optional package of checkpointer type
    ``kind``, so it is imported only when a saver of that type is made; without the
    package, the call raises :func:`missing_package` (and tries again next time).
    """
    module, _, name = base.partition(":")

    @functools.cache
    def subclass() -> type:
        try:
            base_class = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise missing_package(kind, package, extra) from exc
        return build(base_class)

    return subclass
