"""Personal data minimisation is enforced by the model: full IdP payloads go in, and not one name,
phone, address or custom attribute reaches the database, the topics or the logs."""

from __future__ import annotations

import json
import logging

import pytest

from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.harness import Harness
from latchkey.identity_sync.testing.providers import PROVIDERS, make_provider

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("variant", PROVIDERS)
async def test_no_personal_data_reaches_database_topics_or_logs(
    harness: Harness, variant: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kind = variant.split(":")[0]
    # the fake serves every personal field even where the provider selects fewer (Graph's $select)
    async with FakeIdp(kind, Population(40, 4), page_size=15, honour_select=False) as fake:
        fake.faults.add("status", status=502, retry_after=0.05)  # error paths log too
        population = fake.population
        pii = population.pii_values()
        if kind == "scim":
            pii += [f"private.{u.index}@mail.test" for u in population.users]  # a non-primary email
        served = json.dumps(
            {
                "okta": fake.okta_user,
                "graph": lambda u: fake.graph_user(u, delta=True),
                "google": fake.google_user,
                "scim": fake.scim_user,
            }[kind](population.users[11])
        )
        assert population.pii(population.users[11])["phone"] in served  # the fake really serves personal data

        provider = make_provider(variant, fake)
        published = await harness.sync(provider)
        population.change_email(3)
        population.deactivate(4)
        published += await harness.sync(provider, "incremental")
        await provider.aclose()

    assert len(published) == 40 + 4 + 2
    database = await harness.dump_tables()
    topics = b"\n".join(p.raw or b"" for p in published).decode()
    captured = capsys.readouterr()
    logs = captured.out + captured.err + "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "identity sync finished" in logs
    for where, text in (("database", database), ("topics", topics), ("logs", logs)):
        leaked = [value for value in pii if value in text]
        assert leaked == [], f"personal data in the {where}: {leaked[:5]}"
