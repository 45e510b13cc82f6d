"""The services' Kafka clients authenticate (`LATCHKEY_KAFKA_SECURITY_PROTOCOL`: SASL/SCRAM, or a TLS
client certificate): against a real broker that takes only authenticated clients, every kind of
client the services make (FastStream's broker, the relay's producer, the tools' readers, the admin
client that creates topics) connects with the configured user or certificate; a wrong password is
refused with an error that names the cause and never the password, and a client without a
certificate the broker's client CA signed is refused saying so."""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import typer
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from latchkey.contracts import REQUESTS
from latchkey.runtime.cli_support import KAFKA_ERRORS, reader, run_cli, unreachable
from latchkey.runtime.kafka import ensure_topics, make_broker, make_producer
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing.certificates import issued_certificate, self_signed_certificate
from latchkey.runtime.testing.kafka_node import NodeUnavailable, kafka_node

USER, PASSWORD = "flow-engine", "s3cret-for-the-test"


class SecuredKafka(NamedTuple):
    bootstrap: str  # SASL_PLAINTEXT
    tls_bootstrap: str  # SASL_SSL, with a certificate of its own CA
    cafile: str  # that CA (the certificate itself: it is self-signed)
    mtls_bootstrap: str  # SSL, taking only clients with a certificate of the client CA
    client_certfile: str  # such a certificate (PEM)
    client_keyfile: str  # its key (PEM)
    stranger_certfile: str  # a client certificate of another CA, with its key in `stranger_keyfile`
    stranger_keyfile: str


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _client_certificate(home: Path, name: str, ca_key: rsa.RSAPrivateKey, ca: x509.Certificate) -> None:
    """`<name>.pem` and `<name>.key` in `home`: a client certificate `ca` signed, and its key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = issued_certificate(key, name, issuer_key=ca_key, issuer=ca)
    (home / f"{name}.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (home / f"{name}.key").write_bytes(_key_pem(key))


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    """One KRaft node whose client listeners take only authenticated clients: SCRAM-SHA-512 users
    (made at format time, as `kafka-storage format --add-scram` does) on SASL_PLAINTEXT, and on
    SASL_SSL with a self-signed certificate for 127.0.0.1; and, on SSL with that same certificate,
    clients with a certificate of a client CA (`ssl.client.auth=required`)."""
    home = tmp_path_factory.mktemp("secured-kafka")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = self_signed_certificate(
        key, "localhost", alternative_names=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    (home / "ca.pem").write_bytes(cert_pem)
    (home / "keystore.pem").write_bytes(_key_pem(key) + cert_pem)
    # The CA whose certificates the SSL listener takes (its truststore), and one it does not know.
    for ca_name, client in (("client-ca", "flow-engine"), ("other-ca", "stranger")):
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = self_signed_certificate(ca_key, f"latchkey test {ca_name}", certificate_authority=True)
        (home / f"{ca_name}.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        _client_certificate(home, client, ca_key, ca)
    jaas = (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin";'
    )
    listeners = {"SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL", "SSL": "SSL"}
    properties = [
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
        "listener.name.sasl_ssl.ssl.keystore.type=PEM",
        f"listener.name.sasl_ssl.ssl.keystore.location={home / 'keystore.pem'}",
        "listener.name.ssl.ssl.keystore.type=PEM",
        f"listener.name.ssl.ssl.keystore.location={home / 'keystore.pem'}",
        "listener.name.ssl.ssl.truststore.type=PEM",
        f"listener.name.ssl.ssl.truststore.location={home / 'client-ca.pem'}",
        "listener.name.ssl.ssl.client.auth=required",
    ]
    users = {"admin": "admin", USER: PASSWORD}
    try:
        with kafka_node(
            home, listeners, inter_broker="SASL_PLAINTEXT", properties=properties, scram_users=users
        ) as address:
            yield SecuredKafka(
                address["SASL_PLAINTEXT"],
                address["SASL_SSL"],
                str(home / "ca.pem"),
                address["SSL"],
                str(home / "flow-engine.pem"),
                str(home / "flow-engine.key"),
                str(home / "stranger.pem"),
                str(home / "stranger.key"),
            )
    except NodeUnavailable as exc:
        if shutil.which("java") is None:
            pytest.skip(str(exc))
        pytest.fail(str(exc))


def _settings(
    bootstrap: str, password: str = PASSWORD, *, tls: bool = False, cafile: str | None = None
) -> ServiceSettings:
    return ServiceSettings(
        service_name="flow-engine",
        kafka_bootstrap=bootstrap,
        topic_prefix=f"sasl{uuid.uuid4().hex[:6]}.",
        kafka_security_protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        kafka_ssl_cafile=cafile,
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=password,  # type: ignore[arg-type]
    )


def _certificate_settings(kafka: SecuredKafka, certfile: str | None, keyfile: str | None) -> ServiceSettings:
    """Mutual TLS (LATCHKEY_KAFKA_SECURITY_PROTOCOL=SSL) to the listener that requires a client
    certificate, presenting `certfile`/`keyfile` (None: no certificate)."""
    return ServiceSettings(
        service_name="flow-engine",
        kafka_bootstrap=kafka.mtls_bootstrap,
        topic_prefix=f"mtls{uuid.uuid4().hex[:6]}.",
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=kafka.cafile,
        kafka_ssl_certfile=certfile,
        kafka_ssl_keyfile=keyfile,
    )


@pytest.mark.parametrize("listener", ["sasl_plaintext", "sasl_ssl", "ssl_client_certificate"])
async def test_every_client_the_services_make_authenticates(
    secured_kafka: SecuredKafka, listener: str
) -> None:
    if listener == "sasl_plaintext":
        settings = _settings(secured_kafka.bootstrap)
    elif listener == "sasl_ssl":
        settings = _settings(secured_kafka.tls_bootstrap, tls=True, cafile=secured_kafka.cafile)
    else:
        settings = _certificate_settings(
            secured_kafka, secured_kafka.client_certfile, secured_kafka.client_keyfile
        )
    await ensure_topics(settings, [REQUESTS])  # the admin client
    topic = settings.topic(REQUESTS.name)
    producer = make_producer(settings)  # the outbox relay's and the tools' producer
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first", key=b"k")
    finally:
        await producer.stop()

    broker = make_broker(settings)  # what every service consumes and publishes with
    got: asyncio.Queue[bytes] = asyncio.Queue()

    @broker.subscriber(topic, group_id=settings.group("sasl-test"), auto_offset_reset="earliest")
    async def _consume(body: bytes) -> None:
        await got.put(body)

    await broker.start()
    try:
        await broker.publish(b"second", topic=topic, key=b"k")
        seen = {await asyncio.wait_for(got.get(), 30), await asyncio.wait_for(got.get(), 30)}
    finally:
        await broker.stop()
    assert seen == {b"first", b"second"}

    tool = reader(settings)  # latchkey-access / latchkey-audit / latchkey-dlq read with this
    await tool.start()
    try:
        assert topic in await tool.topics()
    finally:
        await tool.stop()


def _tool_refusal(settings: ServiceSettings) -> str:
    """What a tool (here the reader `latchkey-dlq` and `latchkey-audit` use) prints on stderr when it
    cannot connect with `settings`, after checking it stopped with exit status 2."""

    async def read() -> None:
        tool = reader(settings)
        try:
            await asyncio.wait_for(tool.start(), 30)
        except KAFKA_ERRORS as exc:
            raise unreachable(settings, exc) from None
        finally:
            await tool.stop()

    with pytest.raises(typer.Exit) as stopped, contextlib.redirect_stderr(io.StringIO()) as err:
        run_cli(read)
    assert stopped.value.exit_code == 2
    return err.getvalue()


def test_a_wrong_password_is_refused_saying_so_and_never_repeated(secured_kafka: SecuredKafka) -> None:
    """A tool with a wrong password stops with one line that says the broker refused the credentials,
    and repeats no password."""
    said = _tool_refusal(_settings(secured_kafka.bootstrap, password="not-the-password"))
    assert f"cannot reach Kafka at {secured_kafka.bootstrap}" in said and "Authentication failed" in said, (
        said
    )
    assert "invalid credentials" in said and "not-the-password" not in said
    assert len(said.strip().splitlines()) == 1, said


def test_sasl_needs_a_user_and_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LATCHKEY_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LATCHKEY_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ValueError, match="LATCHKEY_KAFKA_SASL_USERNAME and LATCHKEY_KAFKA_SASL_PASSWORD"):
        ServiceSettings()


def test_a_broker_whose_certificate_does_not_verify_is_refused(secured_kafka: SecuredKafka) -> None:
    """Without the broker's CA (LATCHKEY_KAFKA_SSL_CAFILE) the system's CAs do not vouch for it: the
    client refuses the connection, and the tool says why."""
    said = _tool_refusal(_settings(secured_kafka.tls_bootstrap, tls=True))
    assert "CERTIFICATE_VERIFY_FAILED" in said or "certificate verify failed" in said, said


@pytest.mark.parametrize("client", ["no_certificate", "certificate_of_another_ca"])
async def test_a_client_without_a_certificate_of_the_client_ca_is_refused_saying_so(
    secured_kafka: SecuredKafka, client: str
) -> None:
    """The listener with `ssl.client.auth=required` closes the connection of a client with no
    certificate, or with one its client CA did not sign: a tool and a starting service each say that
    the broker refused the client's certificate and which settings give one (aiokafka alone says only
    "Connection ... closed")."""
    settings = (
        _certificate_settings(secured_kafka, None, None)
        if client == "no_certificate"
        else _certificate_settings(
            secured_kafka, secured_kafka.stranger_certfile, secured_kafka.stranger_keyfile
        )
    )
    refused = "the broker refused this client's TLS certificate (none, or one it does not trust)"
    settings_named = "set LATCHKEY_KAFKA_SSL_CERTFILE and LATCHKEY_KAFKA_SSL_KEYFILE"

    said = await asyncio.to_thread(_tool_refusal, settings)  # run_cli runs its own event loop
    assert f"cannot reach Kafka at {secured_kafka.mtls_bootstrap}" in said and refused in said, said
    assert settings_named in said and len(said.strip().splitlines()) == 1, said

    with pytest.raises(KafkaConnectionError) as caught:  # what the service's StartupFailed line says
        await ensure_topics(settings, [REQUESTS], timeout=1)
    assert refused in str(caught.value) and settings_named in str(caught.value), caught.value
