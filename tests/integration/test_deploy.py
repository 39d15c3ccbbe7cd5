"""The deployment: docker-compose.yml, the Dockerfile, and the settings for a real cluster.

No Docker engine here: ``tests/compose_check.py`` does what ``docker-compose config`` does
(interpolation, required variables, the Compose Specification's schema) with PyPI packages
only, and the processes the file describes run as real processes with
the environment the file gives them, only their addresses moved to loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from pydantic import SecretStr, ValidationError
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.service import TLSConfig
from temporalio.testing import WorkflowEnvironment

from adapters.payload_codec import ENCRYPTED_ENCODING
from adapters.settings import (
    BridgeSettings,
    ClientSettings,
    CodecServerSettings,
    SimulatorSettings,
    TemporalSettings,
    WorkerSettings,
)
from adapters.temporal_client import connect_temporal, temporal_connect_options
from cli.main import parse_command_line
from codec_server.app import create_app
from outbound_calls_client.models import CallSnapshot, OutcomeStatus
from outbound_calls_client.search_attributes import ALL_SEARCH_ATTRIBUTES
from outbound_calls_client.start import start_call
from stack.ports import free_port
from tests.helpers.call_harness import call_request, history_plaintext
from tests.helpers.compose_check import (
    ComposeConfigError,
    MissingVariable,
    compose_config,
    interpolate,
    read_env_file,
    references,
)
from workflows.outbound_call import OutboundCallWorkflow

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
TRIAL_ENV = ROOT / "deploy" / "trial.env"
OUR_IMAGE = "${OUTBOUND_CALLS_IMAGE:-outbound-calls:local}"
# What the Dockerfile's WORKDIR holds: the project itself.
IMAGE_WORKDIR = "/app"
# Stand-ins for .env: interpolation needs them, and no real secret is anywhere near a test.
DUMMY_ENV = {
    "POSTGRES_PASSWORD": "dummy-db-password",
    "RETELL_API_KEY": "dummy-retell-key",
    "PAYLOAD_KEYS": "k1:" + "A" * 43 + "=",
    "CODEC_SERVER_TOKEN": "dummy-codec-server-token-of-32-chars",
    "DNC_DB_PASSWORD": "dummy-dnc-password",
}
SECRET_NAME = re.compile(r"(KEY|KEYS|PASSWORD|PWD|SECRET|TOKEN)$")
EXPECTED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "setup",
    "dnc-database",
    "codec-server",
    "temporal-ui",
    "worker",
    "bridge",
}


# ---------------------------------------------------------------- reading the compose file


def load_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load_compose()["services"]
    return found


def our_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services().items() if s.get("image") == OUR_IMAGE}


def strings_in(node: Any) -> Iterator[str]:
    """Every string value of a parsed YAML document (comments are gone by then)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def raw_environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def environment(service: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    return {k: interpolate(v, env) for k, v in raw_environment(service).items()}


def container_argv(service: Mapping[str, Any]) -> list[str]:
    argv = [*(service.get("entrypoint") or []), *(service.get("command") or [])]
    assert all(isinstance(part, str) for part in argv), "commands are written as exec lists"
    return argv


def pyproject() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return data


# ---------------------------------------------------------------- docker-compose config


@pytest.fixture
def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.env"
    path.write_text("")
    return path


def run_compose_config(env: Mapping[str, str], env_file: Path) -> dict[str, Any]:
    """``docker-compose --env-file F config`` with only ``env`` and ``env_file``: a developer's
    real ``.env`` beside the compose file stays out of it."""
    return compose_config(COMPOSE_FILE, env, env_file)


def test_compose_config_is_valid(empty_env_file: Path) -> None:
    config = run_compose_config(DUMMY_ENV, empty_env_file)["services"]
    assert EXPECTED_SERVICES | {"simulator", "prometheus", "jaeger"} == set(config)
    # Every service is listed whatever the profiles: which start with which, the file says.
    assert config["simulator"]["profiles"] == ["trial"]
    assert config["prometheus"]["profiles"] == ["monitoring"]
    assert config["jaeger"]["profiles"] == ["tracing"]
    assert all("profiles" not in config[name] for name in EXPECTED_SERVICES)


def test_compose_check_refuses_what_the_specification_refuses(tmp_path: Path) -> None:
    """The check can fail: a misspelt key and a wrong type are refused, naming where."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["worker"]["enviroment"] = {"A": "b"}
    broken["services"]["bridge"]["ports"] = "127.0.0.1:8000:8000"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(ComposeConfigError) as failure:
        compose_config(path, DUMMY_ENV)
    assert "services.worker" in str(failure.value)
    assert "enviroment" in str(failure.value)
    assert "services.bridge.ports" in str(failure.value)


def test_compose_refuses_to_start_without_the_secrets(empty_env_file: Path) -> None:
    with pytest.raises(MissingVariable) as failure:
        run_compose_config({}, empty_env_file)
    for name in ("POSTGRES_PASSWORD", "RETELL_API_KEY", "PAYLOAD_KEYS", "CODEC_SERVER_TOKEN"):
        assert name in str(failure.value)


@pytest.mark.parametrize("name", ["PAYLOAD_KEYS", "CODEC_SERVER_TOKEN", "DNC_DB_PASSWORD"])
def test_compose_stops_without_payload_keys_token_or_dnc_password(
    name: str, empty_env_file: Path
) -> None:
    """Encrypted by default: no key, no stack (and the message says which and how)."""
    env = {k: v for k, v in DUMMY_ENV.items() if k != name}
    with pytest.raises(MissingVariable, match=f"{name}: set {name} in .env"):
        run_compose_config(env, empty_env_file)
    # An empty value is missing too (":?"), as for POSTGRES_PASSWORD.
    with pytest.raises(MissingVariable, match=name):
        run_compose_config({**env, name: ""}, empty_env_file)


def test_payload_keys_reach_every_process_that_touches_payloads(empty_env_file: Path) -> None:
    config = run_compose_config(DUMMY_ENV, empty_env_file)["services"]
    for name in ("setup", "worker", "bridge", "codec-server"):
        env = config[name]["environment"]
        assert env["PAYLOAD_KEYS"] == DUMMY_ENV["PAYLOAD_KEYS"], name
    # The UI decodes through the codec server, at the address the host publishes it on.
    codec = config["codec-server"]
    ui = config["temporal-ui"]
    published_host, _, container_port = codec["ports"][0].rpartition(":")
    assert container_port == codec["environment"]["CODEC_SERVER_PORT"]
    assert published_host.startswith("127.0.0.1:")  # not beyond this host unless chosen
    endpoint = urlsplit(ui["environment"]["TEMPORAL_CODEC_ENDPOINT"])
    assert endpoint.port == int(published_host.rpartition(":")[2])
    assert endpoint.hostname in {"localhost", "127.0.0.1"}
    assert ui["depends_on"]["codec-server"]["condition"] == "service_healthy"
    # The codec server answers the UI's origin only, and only with the token.
    ui_port = int(ui["ports"][0].split(":")[1])
    assert codec["environment"]["CODEC_SERVER_CORS_ORIGINS"] == f"http://localhost:{ui_port}"
    assert codec["environment"]["CODEC_SERVER_TOKEN"] == DUMMY_ENV["CODEC_SERVER_TOKEN"]


def test_trial_env_file_runs_the_simulator_in_place_of_retell() -> None:
    config = run_compose_config({}, TRIAL_ENV)["services"]
    worker = config["worker"]["environment"]
    simulator = config["simulator"]["environment"]
    assert worker["RETELL_BASE_URL"] == "http://simulator:8100"
    assert urlsplit(worker["RETELL_BASE_URL"]).port == int(simulator["SIMULATOR_PORT"])
    # One key on both sides: the worker's Bearer token, the simulator's signing key, and
    # the bridge's verification key.
    assert worker["RETELL_API_KEY"] == simulator["RETELL_API_KEY"]
    assert config["bridge"]["environment"]["RETELL_API_KEY"] == simulator["RETELL_API_KEY"]
    assert simulator["SIMULATOR_WEBHOOK_URL"] == "http://bridge:8000/webhooks/retell"
    # The trial is encrypted too, and its UI decodes.
    assert worker["PAYLOAD_KEYS"] == config["codec-server"]["environment"]["PAYLOAD_KEYS"]


def test_the_codec_server_starts_with_the_tokens_compose_gives_it(empty_env_file: Path) -> None:
    for env, env_file in ((DUMMY_ENV, empty_env_file), ({}, TRIAL_ENV)):
        codec = run_compose_config(env, env_file)["services"]["codec-server"]["environment"]
        settings = CodecServerSettings(
            payload_keys=SecretStr(codec["PAYLOAD_KEYS"]),
            codec_server_token=SecretStr(codec["CODEC_SERVER_TOKEN"]),
            codec_server_host="0.0.0.0",
        )
        create_app(settings)  # refuses a token too short to guard the payloads


# ---------------------------------------------------------------- what the file describes


def test_every_command_exists_in_the_project() -> None:
    scripts = pyproject()["project"]["scripts"]
    packages = set(pyproject()["tool"]["setuptools"]["packages"])
    checked: list[str] = []
    for name, service in our_services().items():
        argv = container_argv(service)
        assert argv, f"{name}: our image needs an explicit command"
        if argv[:2] == ["python", "-m"]:
            module = argv[2]
            assert (ROOT / module / "__main__.py").is_file(), f"{name}: no {module}/__main__.py"
            assert module in packages, f"{name}: {module} is not installed by pyproject.toml"
        elif argv[0] == "python":
            assert (ROOT / argv[1]).is_file(), f"{name}: no {argv[1]}"
        else:
            assert argv[0] in scripts, f"{name}: {argv[0]} is no console script in pyproject.toml"
            parse_command_line(argv[1:])  # a subcommand the CLI knows (raises otherwise)
        checked.append(name)
    assert {"setup", "worker", "bridge", "simulator"} <= set(checked)


def test_every_file_a_service_mounts_or_runs_is_in_the_repository() -> None:
    for name, service in services().items():
        mounts: dict[str, Path] = {}
        for volume in service.get("volumes", []):
            source, _, rest = str(volume).partition(":")
            if source.startswith("./"):
                host = ROOT / source
                assert host.exists(), f"{name}: mounts missing {source}"
                mounts[rest.split(":")[0]] = host
        if service.get("image") == OUR_IMAGE:
            mounts[IMAGE_WORKDIR] = ROOT
        test = service.get("healthcheck", {}).get("test", [])
        for part in [*container_argv(service), *test]:
            for target, host in mounts.items():
                if part.startswith(target + "/"):
                    path = host / part.removeprefix(target + "/")
                    assert path.is_file(), f"{name}: runs {part}, missing {path}"


def test_every_image_is_pinned_to_an_exact_version() -> None:
    """A tag names one release (postgres:16.9-bookworm, prom/prometheus:v3.5.0), never
    `latest`, a bare major or no tag: the stack pulled next year is the one tested now."""
    exact = re.compile(
        r"[a-z0-9][a-z0-9._/-]*:v?\d+\.\d+(\.\d+)*(-[A-Za-z0-9.]+)?(@sha256:[0-9a-f]{64})?"
    )
    pulled = {name: s["image"] for name, s in services().items() if s.get("image") != OUR_IMAGE}
    assert len(pulled) >= 5
    loose = {name: image for name, image in pulled.items() if not exact.fullmatch(image)}
    assert not loose, f"not an exact version: {loose}"
    # Ours is built here from the Dockerfile (its base and its packages pinned there).
    assert all("build" in s for s in our_services().values())
    for loose_image in ("postgres:latest", "postgres:16", "postgres:16-bookworm", "postgres"):
        assert not exact.fullmatch(loose_image)


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in services().items():
        one_shot = service.get("restart") == "no"
        assert one_shot or "healthcheck" in service, f"{name} has no health check"
        if one_shot:
            # Something waits for it to finish, or it is pointless.
            assert any(
                dep.get("depends_on", {}).get(name, {}).get("condition")
                == "service_completed_successfully"
                for dep in services().values()
                if isinstance(dep.get("depends_on"), dict)
            ), f"nothing waits for one-shot {name}"


def test_workers_scale_and_processes_bind_every_interface() -> None:
    found = services()
    worker = found["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "replicas" in worker.get("deploy", {})
    assert raw_environment(found["bridge"])["BRIDGE_HOST"] == "0.0.0.0"
    assert raw_environment(found["simulator"])["SIMULATOR_HOST"] == "0.0.0.0"
    assert found["simulator"]["profiles"] == ["trial"]
    for name, service in found.items():
        for dependency in (service.get("depends_on") or {}).values():
            assert dependency["condition"] in {
                "service_healthy",
                "service_completed_successfully",
            }, f"{name} starts before what it needs is ready"


def test_no_secret_is_written_in_the_compose_file() -> None:
    only_a_reference = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(?::\?[^}]*|:-)?\}$")
    for name, service in services().items():
        assert "env_file" not in service or service["env_file"] in (".env", [".env"])
        for key, value in raw_environment(service).items():
            if SECRET_NAME.search(key):
                assert only_a_reference.match(value), f"{name}: {key} is not a bare ${{VAR}}"
    text = COMPOSE_FILE.read_text()
    for key, value in read_env_file(TRIAL_ENV).items():
        if SECRET_NAME.search(key):
            assert value not in text, f"the trial's {key} value is written in the compose file"


def test_env_example_lists_every_setting_the_deployment_uses() -> None:
    example = ROOT / ".env.example"
    names = [line.partition("=")[0] for line in example.read_text().splitlines()]
    names = [name for name in names if name and not name.startswith("#")]
    assert len(names) == len(set(names)), "a setting is listed twice in .env.example"
    listed = set(read_env_file(example))
    used = references("\n".join(strings_in(load_compose()))) | set(read_env_file(TRIAL_ENV))
    for service in our_services().values():
        used |= set(raw_environment(service))
    # DESIGN.md: .env.example lists every setting of every process.
    for kind in (WorkerSettings, BridgeSettings, SimulatorSettings):
        used |= {name.upper() for name in kind.model_fields}
    assert used - listed == set(), "add these to .env.example"


def test_setup_service_registers_our_search_attributes() -> None:
    assert container_argv(services()["setup"]) == ["outbound-calls", "register-search-attributes"]


@pytest.mark.integration
async def test_setup_command_registers_exactly_our_search_attributes(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The setup service's own command and environment, on a namespace that has none yet."""
    namespace = f"deploy-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    setup = services()["setup"]
    env = environment(setup, {**DUMMY_ENV, "TEMPORAL_NAMESPACE": namespace})
    env["TEMPORAL_ADDRESS"] = address_of(dev_env)
    argv = container_argv(setup)
    argv[0] = str(Path(sys.executable).parent / argv[0])  # the console script pip installed
    result = await asyncio.to_thread(
        subprocess.run,
        argv,
        env={"PATH": os.environ["PATH"], **env},
        cwd=tmp_path,  # like the image: no .env beside it
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = await dev_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    kinds = {
        "KEYWORD": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "INT": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    expected = {key.name: kinds[key.indexed_value_type.name] for key in ALL_SEARCH_ATTRIBUTES}
    assert dict(listed.custom_attributes) == expected


def test_prometheus_scrapes_the_ports_the_services_serve() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    found = services()
    worker_bind = raw_environment(found["worker"])["TEMPORAL_METRICS_BIND"]
    (worker_sd,) = jobs["outbound-calls-worker"]["dns_sd_configs"]
    assert worker_sd["names"] == ["worker"]
    assert worker_sd["port"] == int(worker_bind.rpartition(":")[2])
    server_bind = raw_environment(found["temporal"])["PROMETHEUS_ENDPOINT"]
    (target,) = jobs["temporal-server"]["static_configs"][0]["targets"]
    assert target == f"temporal:{server_bind.rpartition(':')[2]}"


# ---------------------------------------------------------------- the image


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and line[0] != "#")
    ]


def test_dockerfile_pins_the_base_runs_unprivileged_and_caches_dependencies() -> None:
    steps = dockerfile_instructions()
    args = {rest.partition("=")[0]: rest.partition("=")[2] for word, rest in steps if word == "ARG"}
    (base,) = [rest for word, rest in steps if word == "FROM"]
    image = interpolate(base, args)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image
    copies = [rest for word, rest in steps if word == "COPY"]
    # The dependency layer sees the runtime lock alone, so a code edit keeps its cache; what
    # it installs and how (hashes, nothing resolved) is tests/unit/test_lock.py's.
    assert copies[0] == "requirements/lock.txt requirements/"
    assert copies[-1] == ". ."
    first_install = next(i for i, (w, r) in enumerate(steps) if w == "RUN" and "pip install" in r)
    assert "-r requirements/lock.txt" in steps[first_install][1]
    code_copy = steps.index(("COPY", ". ."))
    assert first_install < code_copy, "dependencies install before the code is copied"
    # The code is read-only for the app user: its bytecode is written at build, or every
    # workflow run would compile workflows/ again (adapters/bytecode.py).
    compiles = [i for i, (w, r) in enumerate(steps) if w == "RUN" and "compileall" in r]
    assert compiles
    assert code_copy < compiles[0] < steps.index(("USER", "app"))
    users = [rest for word, rest in steps if word == "USER"]
    assert users
    assert users[-1] not in {"root", "0"}
    assert steps[-1] == ("CMD", '["python", "worker.py"]')
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", ".devstack", ".env", ".mypy_cache", ".pytest_cache"} <= ignored
    assert "requirements" not in ignored
    assert "requirements/lock.txt" not in ignored


# ---------------------------------------------------------------- settings for a real cluster


@pytest.fixture
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Settings from the test alone: no TEMPORAL_* of the shell, no .env in the directory."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("no_outside_settings")
def test_default_settings_connect_without_tls_or_key() -> None:
    options = temporal_connect_options(TemporalSettings())
    assert options.tls is False
    assert options.api_key is None
    assert (options.target_host, options.namespace) == ("localhost:7233", "default")


@pytest.mark.usefixtures("no_outside_settings")
def test_api_key_turns_tls_on_and_stays_out_of_every_repr() -> None:
    key = "tcld-api-key-" + uuid.uuid4().hex
    settings = TemporalSettings(
        temporal_address="ns.acct.tmprl.cloud:7233",
        temporal_namespace="ns.acct",
        temporal_api_key=SecretStr(key),
    )
    options = temporal_connect_options(settings)
    assert options.tls is True
    assert options.api_key == key
    assert options.target_host == "ns.acct.tmprl.cloud:7233"
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(options)):
        assert key not in shown
    assert "API key" in repr(options)


@pytest.mark.usefixtures("no_outside_settings")
def test_api_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_API_KEY", "from-env")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "ns.acct")
    options = temporal_connect_options(TemporalSettings())
    assert (options.api_key, options.tls, options.namespace) == ("from-env", True, "ns.acct")


@pytest.mark.usefixtures("no_outside_settings")
def test_mtls_reads_the_files_and_keeps_the_private_key_out_of_repr(tmp_path: Path) -> None:
    files = {}
    for name in ("client.pem", "client.key", "ca.pem"):
        files[name] = tmp_path / name
        files[name].write_bytes(f"-----BEGIN {name}-----\n".encode())
    settings = TemporalSettings(
        temporal_tls_client_cert_path=files["client.pem"],
        temporal_tls_client_key_path=files["client.key"],
        temporal_tls_server_ca_cert_path=files["ca.pem"],
        temporal_tls_server_name="temporal.internal",
    )
    options = temporal_connect_options(settings)
    assert options.tls == TLSConfig(
        server_root_ca_cert=b"-----BEGIN ca.pem-----\n",
        domain="temporal.internal",
        client_cert=b"-----BEGIN client.pem-----\n",
        client_private_key=b"-----BEGIN client.key-----\n",
    )
    assert options.api_key is None
    assert "client.key" not in repr(options)


@pytest.mark.usefixtures("no_outside_settings")
def test_tls_can_be_forced_on_and_a_contradiction_is_refused(tmp_path: Path) -> None:
    assert temporal_connect_options(TemporalSettings(temporal_tls=True)).tls is True
    cert = tmp_path / "client.pem"
    cert.write_text("cert")
    with pytest.raises(ValidationError, match="go together"):
        TemporalSettings(temporal_tls_client_cert_path=cert)
    with pytest.raises(ValidationError, match="TEMPORAL_TLS is false"):
        TemporalSettings(temporal_tls=False, temporal_tls_server_ca_cert_path=cert)
    with pytest.raises(ValidationError):
        TemporalSettings(temporal_tls_server_ca_cert_path=tmp_path / "missing.pem")


@pytest.mark.integration
@pytest.mark.usefixtures("no_outside_settings")
async def test_connect_temporal_really_uses_tls_and_the_key(dev_env: WorkflowEnvironment) -> None:
    address = address_of(dev_env)
    # The dev server speaks plain gRPC: a TLS handshake with it must fail.
    with pytest.raises(RuntimeError, match="connect"):
        await connect_temporal(TemporalSettings(temporal_address=address, temporal_tls=True))
    # TLS off by choice (a sidecar terminates it), key still sent.
    client = await connect_temporal(
        TemporalSettings(
            temporal_address=address, temporal_tls=False, temporal_api_key=SecretStr("k-1")
        )
    )
    assert client.api_key == "k-1"


@pytest.mark.integration
@pytest.mark.usefixtures("no_outside_settings")
async def test_metrics_bind_serves_prometheus_metrics(dev_env: WorkflowEnvironment) -> None:
    bind = f"127.0.0.1:{free_port()}"
    settings = TemporalSettings(temporal_address=address_of(dev_env))
    client = await connect_temporal(settings, metrics_bind=bind)
    # A second client in the same process shares the runtime instead of failing to bind.
    again = await connect_temporal(settings, metrics_bind=bind)
    await client.count_workflows()
    await again.count_workflows()
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{bind}/metrics")).text
    assert "temporal_request" in text


# ---------------------------------------------------------------- the stack as processes


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@dataclass
class Process:
    name: str
    proc: asyncio.subprocess.Process
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def local_argv(argv: Sequence[str]) -> list[str]:
    """A container command run here: our venv's python, files from the repository."""
    local: list[str] = []
    for part in argv:
        if part == "python":
            local.append(sys.executable)
        elif part.startswith(IMAGE_WORKDIR + "/"):
            local.append(str(ROOT / part.removeprefix(IMAGE_WORKDIR + "/")))
        elif part.endswith(".py") and (ROOT / part).is_file():
            local.append(str(ROOT / part))
        else:
            local.append(part)
    return local


class LoopbackStack:
    """The compose services' environments, with only the addresses moved to loopback."""

    def __init__(
        self,
        temporal_address: str,
        env_file: Mapping[str, str],
        workdir: Path,
        dnc_database_url: str,
    ):
        self.dnc_database_url = dnc_database_url
        self.compose = services()
        self.env_file = env_file
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("bridge", "simulator", "metrics")}
        self.temporal_address = temporal_address

    def _move(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.hostname in self.ports:
            netloc = f"127.0.0.1:{self.ports[parts.hostname]}"
            return urlunsplit(parts._replace(netloc=netloc))
        return url

    def environment(self, service: str) -> dict[str, str]:
        env = environment(self.compose[service], self.env_file)
        overrides = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(self.ports["bridge"]),
            "SIMULATOR_HOST": "127.0.0.1",
            "SIMULATOR_PORT": str(self.ports["simulator"]),
            "TEMPORAL_METRICS_BIND": f"127.0.0.1:{self.ports['metrics']}",
            # The container's volume path; here a file of this test's own.
            "DO_NOT_CALL_DB": str(self.workdir / "do_not_call.sqlite3"),
            # The stack's PostgreSQL: here the tests' own server.
            "DNC_DATABASE_URL": self.dnc_database_url,
        }
        for key in ("RETELL_BASE_URL", "SIMULATOR_WEBHOOK_URL"):
            if key in env:
                overrides[key] = self._move(env[key])
        env.update({k: v for k, v in overrides.items() if k in env})
        return {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **env,
        }

    @asynccontextmanager
    async def running(self, service: str) -> AsyncIterator[Process]:
        log = self.workdir / f"{service}.log"
        with log.open("wb") as sink:
            proc = await asyncio.create_subprocess_exec(
                *local_argv(container_argv(self.compose[service])),
                # Not the repository: a developer's .env there must not leak in (the image
                # has none either).
                cwd=self.workdir,
                env=self.environment(service),
                stdout=sink,
                stderr=asyncio.subprocess.STDOUT,
            )
        process = Process(service, proc, log)
        try:
            yield process
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), timeout=20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    async def health(self, service: str) -> int:
        """The service's compose health check, run here; answers its exit code."""
        test = self.compose[service]["healthcheck"]["test"]
        assert test[0] == "CMD"
        argv = local_argv(test[1:])
        if service in self.ports:  # the container's own port, here the one it was given
            own = environment(self.compose[service], self.env_file)[f"{service.upper()}_PORT"]
            local = f"127.0.0.1:{self.ports[service]}"
            argv = [part.replace(f"127.0.0.1:{own}/", f"{local}/") for part in argv]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.workdir,
            env=self.environment(service),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return await proc.wait()


async def wait_until(probe: Any, what: str, *processes: Process, timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await probe():
        for process in processes:
            assert process.proc.returncode is None, f"{process.name} died:\n{process.text()}"
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def http_ok(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(url)).status_code == 200
    except httpx.TransportError:
        return False


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def stopped_cleanly(process: Process) -> bool:
    """Exit 0 after SIGTERM, every process alike (the uvicorn ones once they have drained)."""
    return process.proc.returncode == 0


@pytest.mark.integration
async def test_compose_services_place_a_call_with_webhooks_through_the_bridge(
    dev_env: WorkflowEnvironment, tmp_path: Path, dnc_database_url: str
) -> None:
    queue = f"compose-{uuid.uuid4().hex[:8]}"
    # The trial's .env, with a task queue of this test's own on the shared dev server.
    env_file = {**read_env_file(TRIAL_ENV), "TEMPORAL_TASK_QUEUE": queue}
    stack = LoopbackStack(address_of(dev_env), env_file, tmp_path, dnc_database_url)
    # A client as `docker-compose exec bridge outbound-calls ...` has it: the bridge's env.
    bridge_env = environment(services()["bridge"], env_file)
    client = await connect_temporal(
        ClientSettings(
            temporal_address=address_of(dev_env),
            payload_keys=SecretStr(bridge_env["PAYLOAD_KEYS"]),
        )
    )
    bridge_url = f"http://127.0.0.1:{stack.ports['bridge']}"
    sim_url = f"http://127.0.0.1:{stack.ports['simulator']}"
    async with (
        stack.running("simulator") as simulator,
        stack.running("bridge") as bridge,
    ):
        await wait_until(lambda: http_ok(f"{sim_url}/_sim/healthz"), "simulator", simulator)
        await wait_until(lambda: http_ok(f"{bridge_url}/readyz"), "bridge", bridge)
        assert await stack.health("bridge") == 0
        assert await stack.health("simulator") == 0
        # No worker polls this queue yet: the worker's health check must say so.
        assert await stack.health("worker") == 1
        async with stack.running("worker") as worker:

            async def worker_healthy() -> bool:
                return await stack.health("worker") == 0

            await wait_until(worker_healthy, "worker health check", worker)
            handle = await start_call(client, call_request("answered"), task_queue=queue)
            # Default timeouts (90 s ring, 300 s poll): only webhooks end the call this soon.
            outcome = await asyncio.wait_for(handle.result(), timeout=30)
            snapshot: CallSnapshot = await handle.query(OutboundCallWorkflow.status)
        processes = (simulator, bridge, worker)
    for process in processes:
        await asyncio.wait_for(process.proc.wait(), timeout=20)
        assert stopped_cleanly(process), f"{process.name}:\n{process.text()}"

    assert outcome.status == OutcomeStatus.COMPLETED
    # The workflow saw each event of its call ("<call_id>:<event>").
    assert set(snapshot.events_seen) == {
        f"{outcome.call_id}:{event}" for event in ("call_started", "call_ended", "call_analyzed")
    }
    signalled = {
        line["retell_event"]
        for line in json_lines(bridge.text())
        if line.get("outcome") == "signalled" and line.get("workflow_id") == handle.id
    }
    assert signalled == {"call_started", "call_ended", "call_analyzed"}
    worker_events = [line.get("event") for line in json_lines(worker.text())]
    assert "worker started" in worker_events
    assert "worker stopped" in worker_events
    key = env_file["RETELL_API_KEY"]
    for process in processes:
        assert key not in process.text(), f"{process.name} logged the Retell key"
    # Encrypted by default: the history as Temporal stores it holds no number in clear.
    history = (await dev_env.client.get_workflow_handle(handle.id).fetch_history()).to_json()
    assert base64.b64encode(ENCRYPTED_ENCODING).decode() in history
    stored = history_plaintext(history)
    request = call_request("answered")
    for number in (request.to_number, request.from_number or ""):
        assert number.lstrip("+") not in stored


def test_http_health_check_fails_on_a_closed_port() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "healthcheck.py"),
            "http",
            f"http://127.0.0.1:{free_port()}/readyz",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "unhealthy" in result.stderr
