"""`latchkey-acls`: the Kafka ACLs each Latchkey principal needs, and nothing more.

    latchkey-acls --connector acme --connector eu-west [--prefix prod.] [--principal connector=User:cn-acme]
    latchkey-acls --connector acme --format json
    latchkey-acls --connector acme --apply      # as an admin principal (LATCHKEY_KAFKA_* settings)

Signatures protect what a connector executes, not the other topics: whoever may write
`access.flows.v1` can publish a flow that approves their own requests (docs/operations.md, "Securing
the bus"). This prints the allow rules for a cluster whose brokers run the `StandardAuthorizer` with
`allow.everyone.if.no.acl.found=false`, as `kafka-acls.sh` commands (or JSON for other tooling).
Each principal may write only what it produces, read only what it consumes, and see (DESCRIBE) the
topics it makes sure exist at startup; consumer groups are allowed by the service's prefix.
`tests/security/test_kafka_acls.py` runs the whole system under exactly these rules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Annotated, Literal

import typer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest, DescribeAclsRequest

from latchkey.contracts import (
    ALL_TOPICS,
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    Topic,
    connector_commands,
    dead_letters,
)

from .cli_support import CONNECT_SECONDS, KAFKA_ERRORS, CliError, load_settings, run_cli, unreachable
from .kafka import TopicsNotCreated, ensure_topics, kafka_connection
from .settings import ServiceSettings

Operation = Literal["READ", "WRITE", "DESCRIBE"]

ROLES = ("identity-sync", "flow-engine", "expiry", "connector", "requester", "admin")
"""The principals Latchkey's parts run as. Each connector runs as a principal of its own,
`User:latchkey-connector-<id>` unless `connector.<id>` names another; `connector` names one
principal for every connector not named on its own (then each may read the others' commands)."""

DEFAULT_PRINCIPALS = {role: f"User:latchkey-{role}" for role in ROLES if role != "connector"}


@dataclass(frozen=True, order=True)
class Acl:
    """One allow rule: `principal` may `operation` the topic or consumer group `name` (a prefix when
    `prefixed`)."""

    principal: str
    resource: Literal["TOPIC", "GROUP"]
    name: str
    operation: Operation
    prefixed: bool = False


def _topics(prefix: str, principal: str, operation: Operation, topics: Iterable[Topic]) -> list[Acl]:
    return [Acl(principal, "TOPIC", prefix + topic.name, operation) for topic in topics]


def _dlq(topics: Iterable[Topic]) -> list[Topic]:
    return [dead_letters(t) for t in topics]


def _group(prefix: str, principal: str, name: str, *, prefixed: bool = False) -> Acl:
    return Acl(principal, "GROUP", prefix + name, "READ", prefixed=prefixed)


def latchkey_acls(
    prefix: str, connector_ids: Sequence[str], principals: dict[str, str] | None = None
) -> list[Acl]:
    """Every allow rule a Latchkey deployment under topic prefix `prefix` with these connectors needs.

    `principals` maps a role (`ROLES`, or `connector.<id>` for one connector) to its Kafka principal;
    missing roles take `DEFAULT_PRINCIPALS`."""
    who = {**DEFAULT_PRINCIPALS, **(principals or {})}
    commands = [connector_commands(c) for c in connector_ids]
    rules: list[Acl] = []

    # Each service makes sure its topics and their dead-letter topics exist at startup: it must see
    # them (DESCRIBE; READ or WRITE imply it), or it would try to create them.
    def service(role: str, *, writes: list[Topic], reads: list[Topic], ensures: list[Topic]) -> None:
        principal = who[role]
        rules.extend(_topics(prefix, principal, "WRITE", writes))
        rules.extend(_topics(prefix, principal, "READ", reads))
        seen = {t.name for t in writes + reads}
        rules.extend(_topics(prefix, principal, "DESCRIBE", [t for t in ensures if t.name not in seen]))

    identity = [USERS, GROUPS]
    service("identity-sync", writes=identity, reads=[], ensures=identity + _dlq(identity))

    engine_reads = [REQUESTS, RESULTS, FLOWS, USERS, GROUPS, INVENTORY, TIMERS, LIFECYCLE]
    engine_topics = [*ALL_TOPICS, *commands]  # flow-engine uses every topic
    service(
        "flow-engine",
        # lifecycle, the commands it signs, and the dead letters of what it reads (LIFECYCLE: the
        # notifier's subscription)
        writes=[LIFECYCLE, *commands, *_dlq(engine_reads)],
        reads=engine_reads,
        ensures=engine_topics + _dlq(engine_topics),
    )
    rules.append(_group(prefix, who["flow-engine"], "flow-engine.", prefixed=True))

    expiry_topics = [LIFECYCLE, TIMERS]
    service(
        "expiry",
        writes=[TIMERS, dead_letters(LIFECYCLE)],
        reads=[LIFECYCLE],
        ensures=expiry_topics + _dlq(expiry_topics),
    )
    rules.append(_group(prefix, who["expiry"], "expiry"))

    for connector_id, topic in zip(connector_ids, commands, strict=True):
        role = f"connector.{connector_id}"
        who.setdefault(role, who.get("connector", f"User:latchkey-connector-{connector_id}"))
        connector_topics = [topic, RESULTS, INVENTORY]
        service(
            role,
            # RESULTS is read back too: the replicas' ledger of executed commands; INVENTORY: what
            # it published before, so a sync sends only changes
            writes=[RESULTS, INVENTORY, dead_letters(topic)],
            reads=[topic, RESULTS, INVENTORY],
            ensures=connector_topics + _dlq(connector_topics),
        )
        rules.append(_group(prefix, who[role], f"connector-{connector_id}"))

    # People (latchkey-access): ask, and follow their request's story (no consumer group).
    rules.extend(_topics(prefix, who["requester"], "WRITE", [REQUESTS]))
    rules.extend(_topics(prefix, who["requester"], "READ", [LIFECYCLE]))
    # Platform admins: flows (latchkey-flows apply makes sure the topic exists), and the dead letters
    # of every topic, which they may replay to its source (latchkey-dlq).
    rules.extend(_topics(prefix, who["admin"], "WRITE", engine_topics))
    rules.extend(_topics(prefix, who["admin"], "READ", _dlq(engine_topics)))
    rules.extend(_topics(prefix, who["admin"], "DESCRIBE", [dead_letters(FLOWS)]))
    return sorted(set(rules))


# -- on a cluster ------------------------------------------------------------------------------------

# The Kafka protocol's codes (org.apache.kafka.common.resource / acl)
_RESOURCE = {"TOPIC": 2, "GROUP": 3}
_PATTERN = {False: 3, True: 4}  # LITERAL, PREFIXED
_OPERATION: dict[str, int] = {"READ": 3, "WRITE": 4, "DESCRIBE": 8}
_ANY, _ALLOW = 1, 3


class AclRefused(Exception):
    """The cluster refused to create some rules (e.g. the client is not allowed to ALTER the cluster)."""


async def apply_acls(settings: ServiceSettings, rules: Sequence[Acl]) -> None:
    """Create `rules` on the cluster `settings` reach, as the principal they authenticate as (which
    must be allowed to ALTER the cluster: a super user). Creating a rule that exists changes nothing."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await asyncio.wait_for(admin.start(), CONNECT_SECONDS)
    try:
        # aiokafka has no ACL call: its protocol request (one rule each), sent concurrently
        responses = await asyncio.gather(
            *(
                admin._send_request(
                    CreateAclsRequest(
                        _RESOURCE[r.resource],
                        r.name,
                        _PATTERN[r.prefixed],
                        r.principal,
                        "*",
                        _OPERATION[r.operation],
                        _ALLOW,
                    )
                )
                for r in rules
            )
        )
    finally:
        await admin.close()
    refused = [
        f"{rule.principal} {rule.operation} {rule.resource} {rule.name}: {message or code}"
        for rule, response in zip(rules, responses, strict=True)
        for code, message in response.creation_responses
        if code
    ]
    if refused:
        raise AclRefused(f"{len(refused)} of {len(rules)} rules refused, e.g. {refused[0]}")


async def prepare_cluster(
    settings: ServiceSettings, prefix: str, connector_ids: Sequence[str], rules: Sequence[Acl]
) -> None:
    """What an admin does once per deployment (and again for a new connector): create every topic
    under `prefix` (the services are allowed no CREATE: they only make sure their topics exist), then
    the rules (`latchkey_acls`)."""
    topics = [*ALL_TOPICS, *(connector_commands(c) for c in connector_ids)]
    await ensure_topics(settings.model_copy(update={"topic_prefix": prefix}), topics, report=False)
    await apply_acls(settings, rules)


async def cluster_acls(settings: ServiceSettings) -> set[Acl]:
    """Every allow rule on topics and groups the cluster holds (as far as the client may see them)."""
    request = DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ALLOW)
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await asyncio.wait_for(admin.start(), CONNECT_SECONDS)
    try:
        response = await admin._send_request(request)  # aiokafka has no ACL call: its protocol request
    finally:
        await admin.close()
    if response.error_code:
        raise AclRefused(response.error_message or f"DescribeAcls error {response.error_code}")
    resources = {code: name for name, code in _RESOURCE.items()}
    operations = {code: name for name, code in _OPERATION.items()}
    return {
        Acl(principal, resources[kind], name, operations[operation], prefixed=pattern == _PATTERN[True])  # type: ignore[arg-type]
        for kind, name, pattern, acls in response.resources
        if kind in resources
        for principal, _host, operation, _permission in acls
        if operation in operations
    }


# -- the command -------------------------------------------------------------------------------------


class Format(StrEnum):
    kafka_acls = "kafka-acls"
    json = "json"


def kafka_acls_command(acl: Acl, bootstrap: str, command_config: str | None) -> str:
    """The `kafka-acls.sh` line that adds `acl`."""
    parts = ["kafka-acls.sh", "--bootstrap-server", bootstrap]
    if command_config:
        parts += ["--command-config", command_config]
    parts += ["--add", "--allow-principal", acl.principal, "--operation", acl.operation.title()]
    parts += ["--topic" if acl.resource == "TOPIC" else "--group", acl.name]
    if acl.prefixed:
        parts += ["--resource-pattern-type", "prefixed"]
    return " ".join(_quoted(p) for p in parts)


def _quoted(word: str) -> str:
    return word if word and all(c.isalnum() or c in "-_.:/=@,+" for c in word) else json.dumps(word)


def _principals(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        role, sep, principal = value.partition("=")
        if not sep or not principal or ":" not in principal:
            raise typer.BadParameter(
                f"{value!r}: give ROLE=Type:name, e.g. flow-engine=User:fe", param_hint="--principal"
            )
        if role not in ROLES and not role.startswith("connector."):
            raise typer.BadParameter(
                f"unknown role {role!r}; roles: {', '.join(ROLES)}, connector.<id>", param_hint="--principal"
            )
        found[role] = principal
    return found


class AclSettings(ServiceSettings):
    service_name: str = "latchkey-acls"


cli = typer.Typer(
    name="latchkey-acls",
    help="Print the Kafka ACLs each Latchkey principal needs (kafka-acls.sh commands or JSON).",
    rich_markup_mode="markdown",
    add_completion=False,
)


@cli.command()
def acls(
    connector: Annotated[
        list[str], typer.Option("--connector", "-c", help="A connector id (repeat for each connector)")
    ],
    prefix: Annotated[
        str,
        typer.Option("--prefix", envvar="LATCHKEY_TOPIC_PREFIX", help="The deployment's topic prefix"),
    ] = "",
    principal: Annotated[
        list[str] | None,
        typer.Option(
            "--principal",
            "-p",
            help="ROLE=Type:name, e.g. flow-engine=User:fe (roles: "
            + ", ".join(ROLES)
            + ", connector.<id>); default User:latchkey-<role>",
        ),
    ] = None,
    output: Annotated[
        Format, typer.Option("--format", help="kafka-acls.sh commands, or JSON")
    ] = Format.kafka_acls,
    bootstrap: Annotated[
        str, typer.Option("--bootstrap-server", help="Written into the kafka-acls.sh commands")
    ] = "BROKER:9092",
    command_config: Annotated[
        str | None, typer.Option("--command-config", help="An admin client properties file, for the commands")
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Create the topics and the rules on the cluster instead of printing the rules, "
            "connecting with the LATCHKEY_KAFKA_* settings of a principal allowed to create topics "
            "and alter the cluster's ACLs (the services are not allowed to create topics)",
        ),
    ] = False,
) -> None:
    """Print (or, with --apply, create) the allow rules for brokers that deny what no ACL allows."""
    rules = latchkey_acls(prefix, connector, _principals(principal or []))
    if apply:
        settings = load_settings(AclSettings)

        async def work() -> None:
            try:
                await prepare_cluster(settings, prefix, connector, rules)
            except (AclRefused, TopicsNotCreated) as exc:
                raise CliError(str(exc)) from None
            except KAFKA_ERRORS as exc:
                raise unreachable(settings, exc) from None

        run_cli(work)
        print(
            f"topics and {len(rules)} rules in place for prefix {prefix!r}, connectors {', '.join(connector)}"
        )
        return
    if output is Format.json:
        print(json.dumps([asdict(r) for r in rules], indent=2))
        return
    for rule in rules:
        print(kafka_acls_command(rule, bootstrap, command_config))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
