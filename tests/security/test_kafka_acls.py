"""The whole system on a broker that denies what no ACL allows, each service logged in as its own
principal with exactly the rules `latchkey-acls` prints: a request is granted and revoked end to
end, and what a principal must not do (a connector writing commands, a requester publishing an
Access Flow, identity-sync writing the lifecycle, expiry reading ID tokens) is refused by the broker.

The test harness itself (topics, flows, reading the lifecycle) talks to a plaintext listener whose
anonymous principal is a super user; the services only reach the SCRAM listener."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from latchkey.contracts import (
    FLOWS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    DeadLetter,
    ResourceDiscovered,
    connector_commands,
)
from latchkey.runtime.acls import ROLES, cluster_acls, latchkey_acls, prepare_cluster
from latchkey.runtime.kafka import TopicsNotCreated, ensure_topics, kafka_connection
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing import Infra
from latchkey.runtime.testing.kafka_node import NodeUnavailable, kafka_node
from tests.support.bus import Record, TopicReader, dead_letter_records
from tests.support.processes import ServiceSpec
from tests.support.scenario import ALICE, RunningLatchkey, latchkey_running
from tests.support.system import Requester

pytestmark = [pytest.mark.infra, pytest.mark.timeout(300)]

PREFIX = "acl."
CONNECTOR = "acme"  # LatchkeySystem's connector id
USERS = [role for role in ROLES if role != "connector"] + [f"connector-{CONNECTOR}"]
PASSWORDS = {user: f"pw-{user}-{secrets.token_hex(8)}" for user in USERS}
ROLE_OF_SERVICE = {"flow-engine": "flow-engine", "expiry": "expiry", "identity-sync": "identity-sync"}
CONNECTOR_USER = f"connector-{CONNECTOR}"  # each connector is a principal of its own


@dataclasses.dataclass(frozen=True)
class AclKafka:
    harness: str  # PLAINTEXT: the anonymous super user
    services: str  # SASL_PLAINTEXT, SCRAM-SHA-512 users latchkey-<role>


@pytest.fixture(scope="module")
def acl_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclKafka]:
    home = tmp_path_factory.mktemp("acl-kafka")
    properties = [
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        "super.users=User:ANONYMOUS",  # the harness's (and the controller's) plaintext listener
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ]
    users = {f"latchkey-{role}": password for role, password in PASSWORDS.items()}
    try:
        with kafka_node(
            home,
            {"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT"},
            inter_broker="PLAINTEXT",
            properties=properties,
            scram_users=users,
        ) as address:
            yield AclKafka(address["PLAINTEXT"], address["SASL_PLAINTEXT"])
    except NodeUnavailable as exc:
        if shutil.which("java") is None:
            pytest.skip(str(exc))
        pytest.fail(str(exc))


def _login(kafka: AclKafka, role: str) -> dict[str, str]:
    return {
        "LATCHKEY_KAFKA_BOOTSTRAP": kafka.services,
        "LATCHKEY_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LATCHKEY_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LATCHKEY_KAFKA_SASL_USERNAME": f"latchkey-{role}",
        "LATCHKEY_KAFKA_SASL_PASSWORD": PASSWORDS[role],
    }


def _settings(kafka: AclKafka, role: str) -> ServiceSettings:
    """What a service logged in as `role` reads from `_login`'s variables."""
    return ServiceSettings(
        kafka_bootstrap=kafka.services,
        topic_prefix=PREFIX,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=f"latchkey-{role}",
        kafka_sasl_password=SecretStr(PASSWORDS[role]),
    )


def _client(kafka: AclKafka, role: str) -> dict[str, Any]:
    """The options of a client logged in as `role`, as the services build them."""
    return kafka_connection(_settings(kafka, role))


@pytest.fixture(scope="module")
async def latchkey(
    acl_kafka: AclKafka, infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningLatchkey]:
    # what an admin does (latchkey-acls --apply): the topics, then the rules
    admin = ServiceSettings(kafka_bootstrap=acl_kafka.harness)
    rules = latchkey_acls(PREFIX, [CONNECTOR])
    await prepare_cluster(admin, PREFIX, [CONNECTOR], rules)
    assert await cluster_acls(admin) == set(rules)

    def log_in(spec: ServiceSpec) -> ServiceSpec:
        role = ROLE_OF_SERVICE.get(spec.name, CONNECTOR_USER)
        return dataclasses.replace(spec, env={**spec.env, **_login(acl_kafka, role)})

    async with latchkey_running(
        kafka_bootstrap=acl_kafka.harness,
        admin_database_url=infra.admin_database_url,
        work_dir=Path(tmp_path_factory.mktemp("acl-system")),
        prefix=PREFIX,
        adjust_spec=log_in,
    ) as running:
        yield running


async def test_every_service_works_with_only_the_rules_latchkey_acls_prints(
    latchkey: RunningLatchkey,
) -> None:
    alice = Requester(*ALICE)
    request_id = await latchkey.submit(ALICE, alice, permission="readonly", duration_seconds=3)
    await latchkey.wait_for_type(request_id, "access.grant.activated", 60)
    await latchkey.wait_for_type(request_id, "access.grant.revoked", 60)
    refused = {name: log for name, log in latchkey.services.logs().items() if "AuthorizationFailed" in log}
    assert not refused, f"the broker refused a service something it does: {list(refused)}"


async def _produce(kafka: AclKafka, role: str, topic: str) -> None:
    producer = AIOKafkaProducer(**_client(kafka, role), request_timeout_ms=10_000)
    await producer.start()
    try:
        await producer.send_and_wait(PREFIX + topic, b"{}", key=b"k")
    finally:
        await producer.stop()


@pytest.mark.parametrize(
    ("role", "topic"),
    [
        (CONNECTOR_USER, connector_commands(CONNECTOR).name),  # a command it would then execute
        ("requester", FLOWS.name),  # a flow that approves their own requests
        ("identity-sync", LIFECYCLE.name),
        ("expiry", REQUESTS.name),
    ],
)
async def test_a_principal_cannot_write_what_it_does_not_produce(
    latchkey: RunningLatchkey, acl_kafka: AclKafka, role: str, topic: str
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(acl_kafka, role, topic)


async def _read(kafka: AclKafka, role: str, partition: TopicPartition) -> list[bytes] | str:
    """What `role` can read of `partition` from its start (a few seconds' try), or the refusal."""
    consumer = AIOKafkaConsumer(**_client(kafka, role), group_id=None, request_timeout_ms=10_000)
    await consumer.start()
    try:
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        batches = await consumer.getmany(partition, timeout_ms=3_000)
        return [record.value or b"" for record in batches.get(partition, [])]
    except TopicAuthorizationFailedError as exc:
        return type(exc).__name__
    finally:
        await consumer.stop()


async def test_requesters_may_ask_but_only_flow_engine_reads_the_id_tokens(
    latchkey: RunningLatchkey, acl_kafka: AclKafka
) -> None:
    """access.requests.v1 carries ID tokens: a requester may write it, and nobody but flow-engine
    (and the admins, through its dead letters) may read it."""
    partition = TopicPartition(PREFIX + REQUESTS.name, 0)
    producer = AIOKafkaProducer(**_client(acl_kafka, "requester"))  # allowed: asking for access
    await producer.start()
    try:
        await producer.send_and_wait(partition.topic, b'{"id_token": "..."}', partition=0)
    finally:
        await producer.stop()
    assert await _read(acl_kafka, "flow-engine", partition)  # the records are there
    for role in ("requester", "expiry", CONNECTOR_USER, "identity-sync"):
        assert await _read(acl_kafka, role, partition) in ("TopicAuthorizationFailedError", []), role


async def test_a_service_may_not_create_a_topic_and_says_what_to_do(
    latchkey: RunningLatchkey, acl_kafka: AclKafka
) -> None:
    """flow-engine makes sure a connector's command topic exists when its inventory first names it;
    a connector the admin has not prepared is refused at once, with what to do, not waited for."""
    with pytest.raises(TopicsNotCreated) as refused:
        await ensure_topics(
            _settings(acl_kafka, "flow-engine"), [connector_commands("unprepared")], timeout=20
        )
    assert "TopicAuthorizationFailedError" in str(refused.value) and "latchkey-acls --apply" in str(
        refused.value
    )


async def test_an_inventory_naming_a_connector_nobody_prepared_is_dead_lettered(
    latchkey: RunningLatchkey, acl_kafka: AclKafka
) -> None:
    """flow-engine cannot create the command topic of a connector the admin has not prepared: that
    inventory event goes to the dead-letter topic with the reason, instead of being retried forever."""
    event = ResourceDiscovered(
        connector_id="unprepared",
        integration_id="rogue-db",
        integration_type="postgresql",
        resource_id="rogue",
        resource_type="database",
        name="rogue",
        producer="tests",
    )
    await latchkey.publisher.publish(INVENTORY, event)
    async with TopicReader(acl_kafka.harness, PREFIX + INVENTORY.dlq) as dlq:

        def ours(records: list[Record]) -> list[DeadLetter]:
            return [
                d
                for d in dead_letter_records(records)
                if str(event.event_id).encode() in base64.b64decode(d.value_b64 or "")
            ]

        await dlq.wait_for(ours, 60, "the inventory event in inventory.v1.dlq")
        [letter] = ours(dlq.records)
    assert "cannot create" in letter.reason and "TopicAuthorizationFailedError" in letter.reason, (
        letter.reason
    )
