"""Bounded fuzz of the receiver's intake with mutated valid packets (bench/intake_fuzz.py runs ≥ 10^5):
every input is stored or refused with a code, never another exception, and the receiver still answers."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from crypto.pki import StationSubject, create_dev_pki
from receiver.app import create_app
from receiver.server import build_intake


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), StationSubject("NA-HUNGDUNG-01", "40", "412"))


def test_hostile_packets_are_refused_with_a_code_and_the_receiver_stays_up(pki, synthetic, tmp_path):
    intake = build_intake(synthetic.receiver_settings(pki, tmp_path / "rx"))
    outcomes, unexpected = synthetic.fuzz_intake(intake, pki, random.Random(20261202), 500)
    assert not unexpected, unexpected[:3]
    assert sum(outcomes.values()) == 500
    # every layer reached its own checks: the fuzzer is not only testing AES-GCM
    assert {"tampered", "malformed", "manifest-mismatch", "unsafe-zip"} <= set(outcomes), outcomes
    assert outcomes.get("stored", 0) + outcomes.get("duplicate", 0) < 50  # mutations are rarely harmless
    assert asyncio.run(_health(create_app(intake)))["status"] == "ok"


async def _health(app) -> dict:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver") as client:
        return (await client.get("/health")).json()
