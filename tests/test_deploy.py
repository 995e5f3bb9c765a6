"""deploy/: every file parses, runs a real command, and passes only real, valid settings.

The Dockerfile, the compose file, the Kubernetes manifests and the systemd units
are read as data (nothing here needs Docker, a cluster or systemd running) and
checked against the project itself: commands against ``cli.build_parser()``,
environment variables against ``settings.ENV_VARS`` and ``Settings.from_env``,
the policy against the policy loader, the persistence settings against
``deploy/redis.conf``.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from aegis_stream import __version__
from aegis_stream.api import create_app
from aegis_stream.bundled import BUNDLED_POLICIES, data_file
from aegis_stream.cli import build_parser
from aegis_stream.policy import load_policy, parse_policy
from aegis_stream.settings import ENV_VARS, Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
IMAGE = f"aegis-stream:{__version__}"
CHECK = ["aegis-stream", "worker", "--check"]
# Given to the Redis server only (compose, redis.yaml), never to an aegis-stream process.
REDIS_SERVER_VARS = {"REDIS_PASSWORD", "REDISCLI_AUTH"}
# Variables of the image that are not aegis-stream settings.
IMAGE_VARS = re.compile(r"PATH|PYTHON[A-Z_]+|PIP_[A-Z_]+")
NAMED_VAR = re.compile(r"\b(?:AEGIS|REDIS)_[A-Z0-9_]+\b")


# -- helpers -------------------------------------------------------------------------------


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_docs(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def parse_command(argv: list[str]) -> Any:
    """``argv`` (starting with the program) parsed by the real CLI; fails the test if it would not run."""
    assert Path(argv[0]).name == "aegis-stream", argv
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "aegis-stream" in scripts, "the console script the deploy files run"
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit as e:  # argparse exits on an unknown subcommand or flag
        pytest.fail(f"{argv} is not a valid aegis-stream command line (exit {e.code})")


def assert_real_settings(env: Mapping[str, str], where: str) -> Settings:
    """Every name is a setting (nothing invented) and the values are valid together."""
    unknown = sorted(set(env) - set(ENV_VARS))
    assert not unknown, f"{where}: not settings of aegis_stream/settings.py: {unknown}"
    settings = Settings.from_env(dict(env))  # raises ConfigError for a malformed value
    assert settings.log_format == "json", f"{where}: logs must be JSON"
    return settings


def redis_conf(text: str) -> dict[str, str]:
    """Directives of a redis.conf, name -> value (the last one wins, as in Redis)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            out[name.lower()] = value.strip()
    return out


# -- every YAML file -----------------------------------------------------------------------


def test_the_expected_files_exist() -> None:
    names = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    expected = {
        "README.md",
        "redis.conf",
        "Dockerfile",
        "docker-compose.yml",
        "env.example",
        "k8s/kustomization.yaml",
        "k8s/api.yaml",
        "k8s/projector.yaml",
        "k8s/policy-configmap.yaml",
        "k8s/settings-configmap.yaml",
        "k8s/secret.example.yaml",
        "k8s/redis.yaml",
        "systemd/aegis-stream-api.service",
        "systemd/aegis-stream-worker@.service",
        "systemd/aegis-stream.env.example",
        "systemd/api.env.example",
    }
    assert expected <= names, sorted(expected - names)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_every_yaml_file_parses_without_duplicate_keys(path: Path) -> None:
    docs = list(yaml.safe_load_all(path.read_text()))
    assert docs and all(isinstance(doc, dict) for doc in docs), path
    strict = list(yaml.load_all(path.read_text(), Loader=_StrictLoader))
    assert strict == docs


def test_the_strict_loader_refuses_a_duplicate_key() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'AEGIS_PORT'"):
        yaml.load("env:\n  AEGIS_PORT: 1\n  AEGIS_PORT: 2\n", Loader=_StrictLoader)


def test_every_variable_named_anywhere_in_deploy_is_a_setting() -> None:
    named: dict[str, set[str]] = {}
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            for name in NAMED_VAR.findall(path.read_text()):
                named.setdefault(name, set()).add(path.relative_to(DEPLOY).as_posix())
    assert {"REDIS_URL", "AEGIS_PARTITIONS", "AEGIS_LOG_FORMAT", "AEGIS_API_TOKEN"} <= set(named)
    unknown = {name: sorted(files) for name, files in named.items() if name not in ENV_VARS}
    assert set(unknown) <= REDIS_SERVER_VARS, unknown


# -- redis.conf ----------------------------------------------------------------------------


def test_redis_conf_keeps_the_stream_durable() -> None:
    conf = redis_conf((DEPLOY / "redis.conf").read_text())
    assert conf["appendonly"] == "yes"
    assert conf["appendfsync"] == "everysec"
    assert conf["maxmemory-policy"] == "noeviction"
    assert conf["save"]  # RDB snapshots too
    assert conf["protected-mode"] == "yes"


# -- Dockerfile ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    lines: list[str] = []
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        elif raw.strip():
            lines.append(raw.strip())
    out = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile():
        if instruction == "ENV":
            if "=" in args.split()[0]:
                for pair in shlex.split(args):
                    name, _, value = pair.partition("=")
                    env[name] = value
            else:  # the legacy ENV NAME value form
                name, _, value = args.partition(" ")
                env[name] = value
    return env


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[last_from:]


def test_dockerfile_builds_from_python_311_slim_and_installs_the_repo() -> None:
    bases = [args.split()[0] for instruction, args in dockerfile() if instruction == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases
    runs = " ".join(args for instruction, args in dockerfile() if instruction == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), "the package is installed from the repository"


def test_dockerfile_runs_the_api_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [args for instruction, args in stage if instruction == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric (runAsNonRoot can verify it) and not root"
    assert ("EXPOSE", "8000") in stage
    entrypoint = [json.loads(args) for instruction, args in stage if instruction == "ENTRYPOINT"]
    cmd = [json.loads(args) for instruction, args in stage if instruction == "CMD"]
    assert len(entrypoint) == 1 and len(cmd) == 1, "exec form, once each"
    args = parse_command(entrypoint[0] + cmd[0])
    assert args.command == "api"


class _HealthOnly(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_dockerfile_healthcheck_calls_health_with_python() -> None:
    checks = [args for instruction, args in final_stage() if instruction == "HEALTHCHECK"]
    assert len(checks) == 1
    argv = json.loads(checks[0].split(" CMD ", 1)[1])
    assert argv[:2] == ["python", "-c"] and "curl" not in checks[0]
    assert "/health" in {route.path for route in create_app(Settings(redis_url="redis://x")).routes}
    # run it as Docker would: 0 while /health answers 200 on AEGIS_PORT, non-zero once nothing listens
    server = http.server.HTTPServer(("127.0.0.1", 0), _HealthOnly)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def healthcheck() -> int:
        env = {"PATH": os.environ.get("PATH", ""), "AEGIS_PORT": str(port)}
        run = subprocess.run(
            [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False
        )
        return run.returncode

    try:
        assert healthcheck() == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert healthcheck() != 0


def test_dockerfile_env_is_settings_or_python_and_never_opens_the_bind_address() -> None:
    env = dockerfile_env()
    assert "PATH" in env
    settings = {name for name in env if not IMAGE_VARS.fullmatch(name)}
    assert settings <= set(ENV_VARS), sorted(settings - set(ENV_VARS))
    # The image keeps the package's loopback default; deployments set AEGIS_HOST with tokens.
    assert "AEGIS_HOST" not in env


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        rx = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        rx = rx.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        rules.append((negate, re.compile(rx)))
    return rules


def dockerignored(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or a folder above it, decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negate, rx in _dockerignore_rules():
        if any(rx.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_context_to_what_the_image_copies() -> None:
    for path in (
        ".venv/bin/python",
        ".git/HEAD",
        "aegis_stream/__pycache__/cli.cpython-311.pyc",
        "deploy/.env",
        "tests/test_deploy.py",
        ".mypy_cache/x",
    ):
        assert dockerignored(path), path
    sources = []
    for instruction, args in dockerfile():
        if instruction == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert sources == ["pyproject.toml", "README.md", "aegis_stream"]
    for source in sources:
        assert not dockerignored(source), source
        assert (ROOT / source).exists(), source
    package = [
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "aegis_stream").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ]
    assert "aegis_stream/data/airline-policy.yaml" in package
    left_out = [path for path in package if dockerignored(path)]
    assert not left_out, "every file of the package reaches the build"


# -- docker-compose.yml --------------------------------------------------------------------

INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines (systemd EnvironmentFile and compose .env syntax, unquoted)."""
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name), f"{path}: {line!r}"
            out[name] = value
    return out


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's ``${NAME}``, ``${NAME:?message}`` and ``${NAME:-default}``, from ``variables``."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in variables:
            return variables[name]
        assert kind and kind.endswith("-"), f"${{{name}}} is required and env.example lacks it"
        return rest

    return INTERPOLATION.sub(one, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return interpolate(raw, env_file(DEPLOY / "env.example"))


def test_compose_has_redis_two_workers_and_the_api(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "worker", "api"}
    assert parse_command(["aegis-stream", *services["worker"]["command"]]).command == "worker"
    assert parse_command(["aegis-stream", *services["api"]["command"]]).command == "api"
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["api"].get("deploy", {}).get("replicas", 1) == 1
    for name in ("worker", "api"):
        service = services[name]
        assert service["image"] == IMAGE
        assert (DEPLOY / service["build"]["context"]).resolve() == ROOT
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_compose_redis_runs_redis_conf_with_aof_on(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].split(":")[1].startswith("7")
    command = redis["command"]
    assert command[0] == "redis-server"
    mounts = dict(v.split(":")[:2] for v in redis["volumes"])
    inside = command[1]
    host = next(h for h, c in mounts.items() if c == inside)
    assert (DEPLOY / host).resolve() == DEPLOY / "redis.conf"
    # what Redis runs with: the file, then the command line's overrides
    effective = redis_conf((DEPLOY / host).read_text())
    flags = command[2:]
    assert all(flag.startswith("--") for flag in flags[::2]), flags
    effective.update({flag[2:]: value for flag, value in zip(flags[::2], flags[1::2], strict=True)})
    assert effective["appendonly"] == "yes"
    assert effective["appendfsync"] == "everysec"
    assert effective["maxmemory-policy"] == "noeviction"
    assert effective["requirepass"] == env_file(DEPLOY / "env.example")["REDIS_PASSWORD"]
    assert mounts["redis-data"] == "/data" and "redis-data" in compose["volumes"]
    assert "ports" not in redis, "Redis is reachable on the compose network only"


def test_compose_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]["healthcheck"]["test"]
    assert worker[0] == "CMD" and worker[1:] == CHECK
    assert parse_command(worker[1:]).check is True
    api = services["api"]["healthcheck"]["test"]
    assert api[0] == "CMD" and "/health" in " ".join(api) and "curl" not in api
    assert "PONG" in " ".join(services["redis"]["healthcheck"]["test"])


def test_compose_passes_real_settings(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = assert_real_settings(services["worker"]["environment"], "compose worker")
    api = assert_real_settings(services["api"]["environment"], "compose api")
    assert worker.partitions == api.partitions >= services["worker"]["deploy"]["replicas"]
    assert worker.redis_url == api.redis_url and api.redis_url is not None
    assert api.redis_url.startswith("redis://:") and "@redis:6379" in api.redis_url
    assert set(services["redis"]["environment"]) <= REDIS_SERVER_VARS


def test_compose_api_listens_beyond_loopback_only_with_tokens(compose: dict[str, Any]) -> None:
    raw = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["api"]["environment"]
    api = compose["services"]["api"]
    settings = Settings.from_env(api["environment"])
    assert settings.host == "0.0.0.0"
    for var in ("AEGIS_API_TOKEN", "AEGIS_INGEST_TOKEN"):
        assert raw[var].startswith(f"${{{var}:?"), f"{var}: compose must refuse to start without it"
    assert settings.api_token and settings.ingest_token and settings.api_token != settings.ingest_token
    assert api["ports"] == [f"127.0.0.1:{settings.port}:{settings.port}"]


def test_compose_gives_the_api_and_the_workers_one_signing_key(compose: dict[str, Any]) -> None:
    shared = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["x-aegis-env"]
    assert shared["AEGIS_SIGNING_KEY"].startswith("${AEGIS_SIGNING_KEY:?"), "compose must refuse without it"
    keys = {Settings.from_env(compose["services"][s]["environment"]).signing_key for s in ("api", "worker")}
    assert len(keys) == 1 and None not in keys


def test_compose_mounts_a_policy_the_loader_accepts(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    path = api["environment"]["AEGIS_POLICY"]
    host = next(v.split(":")[0] for v in api["volumes"] if v.split(":")[1] == path)
    assert load_policy(DEPLOY / host).rules


# -- Kubernetes ----------------------------------------------------------------------------


def k8s_objects() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in load_docs(path):
            yield path, doc


def find(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_objects() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def container_env(deployment: dict[str, Any]) -> dict[str, str]:
    """What the container's process sees: envFrom ConfigMaps, then env (Secret values from the example)."""
    c = container(deployment)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "only ConfigMaps come in whole; secrets key by key"
        env.update(find("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = find("Secret", ref["name"])["stringData"][ref["key"]]
        else:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
            env[var["name"]] = "aegis-stream-projector-5d8f9c-x7k2q"
    return env


def test_every_k8s_object_has_kind_api_version_and_metadata() -> None:
    objects = list(k8s_objects())
    assert len(objects) >= 10
    for path, doc in objects:
        assert doc["apiVersion"] and doc["kind"], path
        if doc["kind"] == "Kustomization":
            continue
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]), path
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "aegis-stream", path
    kinds = {(doc["kind"], doc.get("metadata", {}).get("name")) for _, doc in objects}
    assert {
        ("Deployment", "aegis-stream-api"),
        ("Service", "aegis-stream-api"),
        ("Deployment", "aegis-stream-projector"),
        ("ConfigMap", "aegis-stream-policy"),
        ("ConfigMap", "aegis-stream-settings"),
        ("Secret", "aegis-stream"),
        ("StatefulSet", "redis"),
        ("Service", "redis"),
    } <= kinds


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    (kustomization,) = load_docs(K8S / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_k8s_deployments_run_real_commands_with_their_probes() -> None:
    api = container(find("Deployment", "aegis-stream-api"))
    assert parse_command(["aegis-stream", *api["args"]]).command == "api"
    port = {p["name"]: p["containerPort"] for p in api["ports"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["path"] == "/health", probe
        assert port[api[probe]["httpGet"]["port"]] == 8000, probe
    projector = container(find("Deployment", "aegis-stream-projector"))
    assert parse_command(["aegis-stream", *projector["args"]]).command == "worker"
    assert projector["livenessProbe"]["exec"]["command"] == CHECK
    assert projector["startupProbe"]["exec"]["command"] == CHECK
    assert parse_command(CHECK).check is True
    assert "readinessProbe" not in projector  # no Service in front of workers


def test_k8s_api_service_reaches_the_api_pods() -> None:
    deployment = find("Deployment", "aegis-stream-api")
    service = find("Service", "aegis-stream-api")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in container(deployment)["ports"]}
    settings = Settings.from_env(container_env(deployment))
    assert settings.host == "0.0.0.0" and settings.port == 8000


def test_k8s_containers_have_resources_and_run_locked_down() -> None:
    uid = int(next(args for instruction, args in final_stage() if instruction == "USER").split(":")[0])
    for kind, name in (
        ("Deployment", "aegis-stream-api"),
        ("Deployment", "aegis-stream-projector"),
        ("StatefulSet", "redis"),
    ):
        pod = find(kind, name)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in pod["containers"]:
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), (name, bound)
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            if c["image"].startswith("aegis-stream:"):
                assert c["image"] == IMAGE
                assert pod["securityContext"]["runAsUser"] == uid, "the image's user"


def test_k8s_passes_real_settings_and_secrets_by_key() -> None:
    api_deployment = find("Deployment", "aegis-stream-api")
    projector_deployment = find("Deployment", "aegis-stream-projector")
    api = assert_real_settings(container_env(api_deployment), "k8s api")
    worker = assert_real_settings(container_env(projector_deployment), "k8s projector")
    assert api.partitions == worker.partitions >= projector_deployment["spec"]["replicas"]
    assert api.redis_url == worker.redis_url == "redis://:change-me-redis-password@redis:6379/0"
    assert api.api_token and api.ingest_token and api.api_token != api.ingest_token
    assert worker.api_token is None, "workers get REDIS_URL and the signing key only from the Secret"
    assert api.signing_key and api.signing_key == worker.signing_key, "the API signs what workers check"
    assert worker.consumer  # the pod's name: what `worker --check` looks up
    secret = find("Secret", "aegis-stream")
    assert set(secret["stringData"]) <= set(ENV_VARS)
    for deployment in (api_deployment, projector_deployment):
        secret_vars = {
            v["name"] for v in container(deployment)["env"] if "secretKeyRef" in v.get("valueFrom", {})
        }
        assert "REDIS_URL" in secret_vars
        assert secret_vars <= set(secret["stringData"])


def test_k8s_policy_configmap_is_the_bundled_policy_and_parses() -> None:
    configmap = find("ConfigMap", "aegis-stream-policy")
    ((key, text),) = configmap["data"].items()
    policy = parse_policy(text, f"ConfigMap aegis-stream-policy {key}")
    assert policy.rules
    assert policy == load_policy(data_file(BUNDLED_POLICIES["airline"]))
    deployment = find("Deployment", "aegis-stream-api")
    path = Path(container_env(deployment)["AEGIS_POLICY"])
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == "aegis-stream-policy"
    (mount,) = [m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]]
    assert "subPath" not in mount, "a subPath mount never sees an updated ConfigMap"
    assert Path(mount["mountPath"]) / key == path


def test_k8s_redis_keeps_every_setting_of_redis_conf() -> None:
    configmap = find("ConfigMap", "redis-config")
    ours = redis_conf(configmap["data"]["redis.conf"])
    reference = redis_conf((DEPLOY / "redis.conf").read_text())
    for name, value in reference.items():
        if name != "bind":  # a pod listens on its own address
            assert ours.get(name) == value, name
    assert ours["appendonly"] == "yes" and ours["dir"] == "/data"
    statefulset = find("StatefulSet", "redis")
    (c,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert c["image"].split(":")[1].startswith("7")
    assert c["command"] == ["redis-server"] and c["args"][0] == "/etc/redis/redis.conf"
    assert {m["mountPath"] for m in c["volumeMounts"]} == {"/etc/redis", "/data"}
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    assert {v["name"] for v in c["env"]} <= REDIS_SERVER_VARS


# -- systemd -------------------------------------------------------------------------------


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (SYSTEMD / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, line
        key, sep, value = line.partition("=")
        assert sep, line
        current.setdefault(key, []).append(value)
    return sections


UNITS = {"aegis-stream-api.service": "api", "aegis-stream-worker@.service": "worker"}


@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_unit_runs_a_real_command_hardened(name: str) -> None:
    service = unit(name)["Service"]
    (exec_start,) = service["ExecStart"]
    assert parse_command(shlex.split(exec_start)).command == UNITS[name]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]  # configuration errors
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "DynamicUser": "yes",
    }.items():
        assert service[key] == [value], key
    assert service["CapabilityBoundingSet"] == [""]
    assert "WantedBy" in unit(name)["Install"]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_systemd_environment_files_hold_real_settings(name: str) -> None:
    service = unit(name)["Service"]
    env: dict[str, str] = {}
    files = service["EnvironmentFile"]
    assert files
    for path in files:
        example = SYSTEMD / (Path(path.lstrip("-")).name + ".example")
        assert example.is_file(), f"{path}: no example {example.name} beside the unit"
        env.update(env_file(example))
    for assignment in service.get("Environment", []):
        for pair in shlex.split(assignment):
            key, _, value = pair.partition("=")
            assert key not in env, f"{key}: an EnvironmentFile value would override Environment="
            env[key] = value.replace("%H", "host").replace("%i", "1")
    settings = assert_real_settings(env, name)
    assert settings.redis_url, "these units are not meant for the embedded engine"
    if UNITS[name] == "api":
        assert settings.host == "127.0.0.1" and settings.api_token and settings.ingest_token
        assert settings.policy_path
    else:
        assert settings.consumer == "host-worker-1"
        assert settings.api_token is None


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    program = Path(sys.executable).parent / "aegis-stream"  # ExecStart must exist for verify
    assert program.exists()
    for name in UNITS:
        text = (SYSTEMD / name).read_text().replace("/opt/aegis-stream/bin/aegis-stream", str(program))
        (tmp_path / name.replace("@.", "@1.")).write_text(text)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(p) for p in sorted(tmp_path.glob("*[!@].service")))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# -- one image, one partition count ---------------------------------------------------------


def test_compose_and_k8s_run_this_version_of_the_image(compose: dict[str, Any]) -> None:
    images = {s["image"] for s in compose["services"].values() if s["image"].startswith("aegis-stream")}
    for _, doc in k8s_objects():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            images |= {
                c["image"]
                for c in doc["spec"]["template"]["spec"]["containers"]
                if c["image"].startswith("aegis-stream")
            }
    assert images == {IMAGE}
