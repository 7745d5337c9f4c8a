"""The production stack files (docker-compose.yml, deploy/Dockerfile, .env.example) agree with
the code: every RAQIB_* variable they set is a real setting, every service they start exists,
and no secret is written into them.

Docker does not run here, so these checks read the files; the pure helpers at the top also get
bad-input tests of their own.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

import pytest
import yaml
from pydantic import AliasChoices, AliasPath, BaseModel, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
RULES_FILE = REPO / "deploy" / "rules.yaml"
DOCKERIGNORE = REPO / ".dockerignore"

SERVICES = ("fetcher", "enrichment", "indexer", "alerting")
RAQIB_DOCKERFILE = "deploy/Dockerfile"

# A RAQIB_ name anywhere in a text: in a key, a ${...} reference, or a comment.
_RAQIB_NAME = re.compile(r"\bRAQIB_[A-Z0-9_]*[A-Z0-9]\b")
# ${NAME}, ${NAME:-default}, ${NAME:?message} ... as compose and the rules file write them.
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
# A reference with no default: compose needs the variable from .env.
_REQUIRED_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?\?[^}]*)?\}")
# The only forms a secret may take in compose: a reference, optionally failing when unset.
_SECRET_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}$")
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY")
# `curl -u user:password` with a literal password rather than a $VARIABLE.
_LITERAL_CREDENTIAL = re.compile(r"""-u\s+["']?[^\s:"'$]+:(?!\$)""")
# NAME=value, also in a commented-out line of .env.example.
_ENV_ASSIGNMENT = re.compile(r"^\s*#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
PLACEHOLDER_SECRET = "change-me"


# --- pure helpers -------------------------------------------------------------------------


def settings_env_names(settings_class: type[BaseSettings]) -> set[str]:
    """The environment variables that set a field of ``settings_class``, upper-cased.

    A nested settings group reads the environment itself, under its own prefix; a nested plain
    model is set through ``PREFIX + FIELD + delimiter + SUBFIELD`` when a delimiter is set. A
    field with an alias is read under the alias alone, unless the class also populates by name.
    """
    config = settings_class.model_config
    prefix = str(config.get("env_prefix") or "")
    delimiter = config.get("env_nested_delimiter")
    by_name = bool(config.get("populate_by_name") or config.get("validate_by_name"))
    names: set[str] = set()
    for field_name, info in settings_class.model_fields.items():
        aliases = _field_aliases(info)
        if not aliases or by_name:
            names.add(f"{prefix}{field_name}".upper())
        names.update(alias.upper() for alias in aliases)
        for nested in _model_types(info.annotation):
            if issubclass(nested, BaseSettings):
                names |= settings_env_names(nested)
            elif delimiter:
                names |= {
                    f"{prefix}{field_name}{delimiter}{sub}".upper() for sub in nested.model_fields
                }
    return names


def _field_aliases(info: FieldInfo) -> list[str]:
    aliases: list[str] = []
    for alias in (info.validation_alias, info.alias):
        if isinstance(alias, str):
            aliases.append(alias)
        elif isinstance(alias, AliasChoices):
            for choice in alias.choices:
                if isinstance(choice, str):
                    aliases.append(choice)
                elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                    aliases.append(choice.path[0])
        elif isinstance(alias, AliasPath) and isinstance(alias.path[0], str):
            aliases.append(alias.path[0])
    return aliases


def _model_types(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models in a field's type, through ``X | None`` and other unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in get_args(annotation):
        yield from _model_types(argument)


def settings_classes(modules: Iterable[ModuleType]) -> set[type[BaseSettings]]:
    """Every BaseSettings subclass defined in or imported by ``modules``, and nested groups."""
    found: set[type[BaseSettings]] = set()
    for module in modules:
        for value in vars(module).values():
            is_settings = isinstance(value, type) and issubclass(value, BaseSettings)
            if is_settings and value is not BaseSettings:
                found.add(value)
    pending = list(found)
    while pending:
        for info in pending.pop().model_fields.values():
            for nested in _model_types(info.annotation):
                if issubclass(nested, BaseSettings) and nested not in found:
                    found.add(nested)
                    pending.append(nested)
    return found


def raqib_names(text: str) -> set[str]:
    """Every RAQIB_* name written anywhere in ``text`` (keys, references and comments)."""
    return set(_RAQIB_NAME.findall(text))


def referenced_variables(text: str) -> set[str]:
    """The names of every ``${NAME...}`` reference in ``text``."""
    return set(_REFERENCE.findall(text))


def unknown_raqib_names(text: str, valid: set[str]) -> list[str]:
    return sorted(raqib_names(text) - valid)


def env_assignments(text: str) -> dict[str, str]:
    """NAME=value lines of an env file, commented-out ones included (they document options)."""
    assignments: dict[str, str] = {}
    for line in text.splitlines():
        match = _ENV_ASSIGNMENT.match(line)
        if match:
            assignments[match.group(1)] = match.group(2).strip()
    return assignments


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's ``environment``, in either the mapping or the list form."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (str(item).partition("=") for item in environment)
        return {name: value for name, _, value in pairs}
    return {str(name): "" if value is None else str(value) for name, value in environment.items()}


def depends_on_of(service: Mapping[str, Any]) -> dict[str, str]:
    """Service name → condition; the list form means ``service_started``."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return {str(name): "service_started" for name in depends_on}
    return {
        str(name): str((spec or {}).get("condition", "service_started"))
        for name, spec in depends_on.items()
    }


def literal_secrets(services: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``service.VARIABLE`` for each secret-named variable whose value is not a reference."""
    bad = []
    for service_name, service in services.items():
        for name, value in environment_of(service).items():
            if _SECRET_NAME.search(name.upper()) and not _SECRET_REFERENCE.match(value):
                bad.append(f"{service_name}.{name}")
    return sorted(bad)


def literal_credentials(text: str) -> list[str]:
    """Lines of ``text`` that pass a literal password to ``curl -u``."""
    return [line.strip() for line in text.splitlines() if _LITERAL_CREDENTIAL.search(line)]


def published_ports(service: Mapping[str, Any]) -> list[str]:
    ports = service.get("ports") or []
    return [str(port) if not isinstance(port, dict) else _long_port(port) for port in ports]


def _long_port(port: Mapping[str, Any]) -> str:
    return f"{port.get('host_ip', '')}:{port.get('published', '')}:{port.get('target', '')}"


def exposed_beyond_loopback(ports: Iterable[str]) -> list[str]:
    """Published ports that listen on every interface rather than on 127.0.0.1."""
    return [port for port in ports if not port.startswith("127.0.0.1:")]


def named_volumes(service: Mapping[str, Any]) -> set[str]:
    """Volume sources that name a volume (not a host path) in a service's ``volumes``."""
    names = set()
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type", "volume") == "volume" and volume.get("source"):
                names.add(str(volume["source"]))
            continue
        source, _, target = str(volume).partition(":")
        if target and not source.startswith(("/", ".", "~", "$")):
            names.add(source)
    return names


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


# --- discovery of the real settings ---------------------------------------------------------


def discovered_settings_modules() -> list[ModuleType]:
    """``services.common.settings`` and every ``services/<name>/settings.py`` that exists now."""
    services_dir = REPO / "services"
    names = ["services.common.settings"] + [
        f"services.{path.parent.name}.settings"
        for path in sorted(services_dir.glob("*/settings.py"))
        if path.parent.name != "common"
    ]
    return [importlib.import_module(name) for name in names]


@pytest.fixture(scope="module")
def valid_raqib_names() -> set[str]:
    names: set[str] = set()
    for settings_class in settings_classes(discovered_settings_modules()):
        names |= settings_env_names(settings_class)
    if RULES_FILE.exists():
        names |= referenced_variables(RULES_FILE.read_text(encoding="utf-8"))
    return {name for name in names if name.startswith("RAQIB_")}


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    document = yaml.safe_load(compose_text)
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml has no services"
    return found


@pytest.fixture(scope="module")
def raqib_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The long-running services built from the project's own image (not its one-shots)."""
    return {
        name: service
        for name, service in services.items()
        if isinstance(service.get("build"), dict)
        and service["build"].get("dockerfile") == RAQIB_DOCKERFILE
        and (service.get("command") or [""])[0] == "run"
    }


# --- the helpers, on inputs made here ------------------------------------------------------


class _Nested(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_NESTED_")
    host: str = "h"


class _Plain(BaseModel):
    depth: int = 1


class _Outer(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAQIB_OUTER_", env_nested_delimiter="__")
    group_id: str = "g"
    nested: _Nested = Field(default_factory=_Nested)
    maybe: _Nested | None = None
    plain: _Plain = Field(default_factory=_Plain)
    sender: str = Field(default="s", validation_alias=AliasChoices("sender", "RAQIB_OUTER_FROM"))
    token: SecretStr | None = None


def test_settings_env_names_use_nested_prefix_aliases_and_delimiter() -> None:
    names = settings_env_names(_Outer)
    assert {
        "RAQIB_OUTER_GROUP_ID",
        "RAQIB_NESTED_HOST",
        "RAQIB_OUTER_PLAIN__DEPTH",
        "RAQIB_OUTER_FROM",
        "RAQIB_OUTER_TOKEN",
    } <= names
    # An aliased field is not read under prefix + name unless the class populates by name.
    assert "RAQIB_OUTER_SENDER" not in names
    assert "RAQIB_OUTER_NESTED_HOST" not in names


def test_settings_env_names_agree_with_pydantic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The computed names are the ones pydantic-settings really reads."""
    monkeypatch.setenv("RAQIB_NESTED_HOST", "from-env")
    monkeypatch.setenv("RAQIB_OUTER_FROM", "alias")
    monkeypatch.setenv("RAQIB_OUTER_SENDER", "ignored")
    outer = _Outer()
    assert (outer.nested.host, outer.sender) == ("from-env", "alias")


def test_settings_classes_follow_nested_groups() -> None:
    module = ModuleType("fake_settings")
    module.Outer = _Outer  # type: ignore[attr-defined]
    module.BaseSettings = BaseSettings  # type: ignore[attr-defined]
    assert settings_classes([module]) == {_Outer, _Nested}


def test_unknown_raqib_names_names_the_typo() -> None:
    text = "RAQIB_KAFKA_BOOTSTRAP_SERVERS: ${RAQIB_KAFKA_BOOTSTRAP_SERVER:-kafka:9092}\n"
    assert unknown_raqib_names(text, {"RAQIB_KAFKA_BOOTSTRAP_SERVERS"}) == [
        "RAQIB_KAFKA_BOOTSTRAP_SERVER"
    ]
    assert unknown_raqib_names("no variables here", set()) == []


def test_literal_secrets_accept_only_references() -> None:
    services: dict[str, dict[str, Any]] = {
        "es": {"environment": {"ELASTIC_PASSWORD": "hunter2", "KEEP": "x"}},
        "kb": {"environment": ["ENCRYPTION_KEY=${KEY:-abc}", "API_TOKEN=${TOKEN:?set it}"]},
        "ok": {"environment": {"RAQIB_ES_PASSWORD": "${RAQIB_ES_PASSWORD}"}},
    }
    assert literal_secrets(services) == ["es.ELASTIC_PASSWORD", "kb.ENCRYPTION_KEY"]


def test_literal_credentials_flag_a_written_password() -> None:
    assert literal_credentials('curl -u "elastic:$${ELASTIC_PASSWORD}" http://x') == []
    assert literal_credentials("curl -u elastic:secret http://x") == [
        "curl -u elastic:secret http://x"
    ]


def test_ports_volumes_and_depends_on_forms() -> None:
    service = {
        "ports": ["9200:9200", "127.0.0.1:5601:5601", {"host_ip": "0.0.0.0", "published": 1}],
        "volumes": ["data:/d", "./deploy:/app/deploy:ro", {"type": "volume", "source": "v"}],
        "depends_on": ["kafka"],
    }
    assert exposed_beyond_loopback(published_ports(service)) == ["9200:9200", "0.0.0.0:1:"]
    assert named_volumes(service) == {"data", "v"}
    assert depends_on_of(service) == {"kafka": "service_started"}


def test_env_assignments_read_commented_options() -> None:
    text = "# a comment\nA=1\n# B=change-me\nnot an assignment\n"
    assert env_assignments(text) == {"A": "1", "B": "change-me"}


# --- the real files --------------------------------------------------------------------------


def test_settings_are_discovered(valid_raqib_names: set[str]) -> None:
    # The shared groups are always there; a service's module adds its own once it exists.
    assert {"RAQIB_KAFKA_BOOTSTRAP_SERVERS", "RAQIB_ES_URL", "RAQIB_LOG_LEVEL"} <= (
        valid_raqib_names
    )
    for path in (REPO / "services").glob("*/settings.py"):
        if path.parent.name != "common":
            prefix = f"RAQIB_{path.parent.name.upper()}_"
            assert any(name.startswith(prefix) for name in valid_raqib_names), path


def test_compose_raqib_variables_are_real_settings(
    compose_text: str, valid_raqib_names: set[str]
) -> None:
    unknown = unknown_raqib_names(compose_text, valid_raqib_names)
    assert not unknown, (
        f"docker-compose.yml uses RAQIB_ variables that no settings class reads and "
        f"deploy/rules.yaml does not reference: {unknown}"
    )


def test_env_example_raqib_variables_are_real_settings(valid_raqib_names: set[str]) -> None:
    unknown = unknown_raqib_names(ENV_EXAMPLE.read_text(encoding="utf-8"), valid_raqib_names)
    assert not unknown, (
        f".env.example names RAQIB_ variables that no settings class reads and "
        f"deploy/rules.yaml does not reference: {unknown}"
    )


def test_env_example_defines_what_compose_requires(compose_text: str) -> None:
    defined = env_assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    required = set(_REQUIRED_REFERENCE.findall(compose_text))
    missing = sorted(required - defined.keys())
    assert not missing, f".env.example lacks variables docker-compose.yml requires: {missing}"


def test_env_example_secrets_are_placeholders() -> None:
    defined = env_assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    secrets = {name: value for name, value in defined.items() if _SECRET_NAME.search(name)}
    assert secrets, ".env.example defines no secrets at all"
    real = sorted(name for name, value in secrets.items() if value != PLACEHOLDER_SECRET)
    assert not real, f".env.example secrets must be {PLACEHOLDER_SECRET!r}: {real}"


def test_compose_writes_no_secret(services: dict[str, dict[str, Any]], compose_text: str) -> None:
    assert not literal_secrets(services), literal_secrets(services)
    assert not literal_credentials(compose_text), literal_credentials(compose_text)


def test_depends_on_names_existing_healthy_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in depends_on_of(service).items():
            assert dependency in services, f"{name} depends on unknown service {dependency!r}"
            assert condition in {"service_healthy", "service_completed_successfully"}, (
                f"{name} waits for {dependency} to merely start ({condition})"
            )
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], (
                    f"{name} waits for {dependency} to be healthy, but it has no healthcheck"
                )


def test_each_stage_runs_once_from_the_project_image(
    raqib_services: dict[str, dict[str, Any]],
) -> None:
    commands = {name: service.get("command") for name, service in raqib_services.items()}
    assert sorted(commands) == sorted(SERVICES), commands
    for name, command in commands.items():
        assert command == ["run", name], f"{name} runs {command}, not ['run', {name!r}]"


def test_stages_restart_wait_for_kafka_and_read_env_file(
    raqib_services: dict[str, dict[str, Any]],
) -> None:
    for name, service in raqib_services.items():
        assert service.get("restart") == "unless-stopped", name
        assert ".env" in (service.get("env_file") or []), name
        assert depends_on_of(service).get("kafka") == "service_healthy", name
        assert environment_of(service).get("RAQIB_KAFKA_BOOTSTRAP_SERVERS"), name
        # Fixed host ports would stop `--scale`.
        assert not service.get("ports"), f"{name} publishes ports; scaling it would clash"


def test_infrastructure_is_present_and_checked(services: dict[str, dict[str, Any]]) -> None:
    images = {name: str(service.get("image", "")) for name, service in services.items()}
    assert images["kafka"].startswith("apache/kafka:4."), images["kafka"]
    assert "elasticsearch/elasticsearch:" in images["elasticsearch"]
    assert "kibana/kibana:" in images["kibana"]
    # Kibana must match Elasticsearch's version.
    assert images["kibana"].rpartition(":")[2] == images["elasticsearch"].rpartition(":")[2]
    assert images["mailpit"].startswith("axllent/mailpit")
    for name in ("kafka", "elasticsearch", "kibana", "mailpit"):
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
    es_environment = environment_of(services["elasticsearch"])
    assert es_environment.get("xpack.security.enabled") == "true"
    assert es_environment.get("ELASTIC_PASSWORD", "").startswith("${ELASTIC_PASSWORD")
    es_check = " ".join(map(str, services["elasticsearch"]["healthcheck"]["test"]))
    assert "curl" in es_check and "-u" in es_check, es_check
    assert "_security/user/kibana_system/_password" in str(services["es-setup"].get("command"))


def test_stateful_services_use_declared_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        undeclared = named_volumes(service) - declared
        assert not undeclared, f"{name} mounts undeclared volumes {sorted(undeclared)}"
    for name in ("kafka", "elasticsearch"):
        assert named_volumes(services[name]), f"{name} keeps its data in no named volume"


def test_ports_listen_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        exposed = exposed_beyond_loopback(published_ports(service))
        assert not exposed, f"{name} publishes {exposed} on every interface"
    host_ports = [
        port.split(":")[1] for service in services.values() for port in published_ports(service)
    ]
    assert len(host_ports) == len(set(host_ports)), f"host port used twice: {host_ports}"


def test_dockerfile_builds_a_non_root_production_image() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert froms and all(base.startswith("python:3.11-slim") for base in froms), froms
    installs = [a for k, a in instructions if k == "RUN" and "pip install" in a]
    # The tested versions: constraints.txt applies to the production install too.
    assert any(re.search(r"pip install -c constraints\.txt \.(\s|$)", a) for a in installs), (
        installs
    )
    assert not any("[local]" in a or "[dev]" in a for a in installs), installs
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}, f"the image runs as {users or 'root'}"
    entrypoints = [arguments for keyword, arguments in instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and yaml.safe_load(entrypoints[-1]) == ["raqib"], entrypoints


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".env", ".git", ".venv"} <= ignored


def test_kibana_setup_imports_the_saved_objects_once_kibana_is_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    setup = services["kibana-setup"]
    assert setup["build"]["dockerfile"] == RAQIB_DOCKERFILE
    assert setup.get("restart") == "no"
    assert setup["command"] == ["kibana", "import", "http://kibana:5601"]
    assert depends_on_of(setup) == {"kibana": "service_healthy"}
    environment = environment_of(setup)
    assert environment["RAQIB_KIBANA_PASSWORD"].startswith("${ELASTIC_PASSWORD")
    # The image must carry the saved objects the command imports.
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert not {"deploy", "deploy/kibana", "deploy/kibana/"} & ignored
    assert list((REPO / "deploy" / "kibana").glob("*.ndjson"))


def test_every_long_running_service_is_health_checked(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # one-shots: their success is what others wait for
        assert "healthcheck" in service, f"{name} has no healthcheck"


# --- servers and clients ------------------------------------------------------------------

_IMAGE_VERSION = re.compile(r":(?:\$\{[A-Z_]+:-)?(\d+)\.(\d+)\.(\d+)")


def image_version(image: str) -> tuple[int, int, int]:
    """The version an image reference runs, also through a ``${VAR:-default}`` tag."""
    found = _IMAGE_VERSION.search(image)
    if found is None:
        raise ValueError(f"no version in image {image!r}")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def test_image_version_reads_plain_and_defaulted_tags() -> None:
    assert image_version("apache/kafka:3.9.1") == (3, 9, 1)
    assert image_version("elastic/elasticsearch:${STACK_VERSION:-8.17.4}") == (8, 17, 4)
    with pytest.raises(ValueError, match="no version"):
        image_version("elastic/elasticsearch:latest")


def test_the_elasticsearch_client_speaks_the_version_compose_runs(
    services: dict[str, dict[str, Any]],
) -> None:
    # A client of major N sends `compatible-with=N`, which a server of a lower major refuses.
    server = image_version(services["elasticsearch"]["image"])
    assert image_version(services["kibana"]["image"]) == server, "Kibana and Elasticsearch differ"
    stack_default = re.search(r"^STACK_VERSION=(\S+)$", ENV_EXAMPLE.read_text(), re.M)
    assert stack_default is not None
    assert stack_default.group(1) == ".".join(map(str, server)), ".env.example's STACK_VERSION"
    installed = int(importlib.metadata.version("elasticsearch").split(".")[0])
    pin = re.search(r'"elasticsearch>=(\d+)\.[\d.]*,<(\d+)"', (REPO / "pyproject.toml").read_text())
    assert pin is not None, "pyproject.toml pins elasticsearch as >=A.B,<C"
    assert installed == int(pin.group(1)) == server[0] == int(pin.group(2)) - 1


def test_the_local_kafka_is_the_version_compose_runs(services: dict[str, dict[str, Any]]) -> None:
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    pinned = re.search(r"<kafka\.version>([\d.]+)</kafka\.version>", pom)
    assert pinned is not None, "deploy/kafka/pom.xml names its version in <kafka.version>"
    compose_kafka = image_version(services["kafka"]["image"])
    assert pinned.group(1) == ".".join(map(str, compose_kafka))
