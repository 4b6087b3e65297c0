"""Registering, promoting and rolling back models on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from shared.registry import (
    CHAMPION_CHANNEL,
    Champion,
    DuplicateArtifactError,
    H2OVersionMismatchError,
    ModelNotFoundError,
    NewModel,
    RegistryError,
    current_champion,
    current_champion_async,
    current_git_commit,
    get_model,
    list_models,
    promote,
    promotion_history,
    register_model,
    rollback,
)
from shared.versions import pinned_versions
from tests.registry.factories import new_model

Conn = psycopg.Connection[Any]


def test_register_stores_every_field_and_numbers_versions(conn: Conn) -> None:
    first_new, second_new = new_model(), new_model(algo="xgboost")

    first = register_model(conn, first_new)
    second = register_model(conn, second_new)

    assert second.model_version > first.model_version
    assert get_model(conn, first.model_version) == first
    assert first.h2o_version_matches
    assert first.artifact_sha256 == first_new.artifact_sha256
    assert first.metrics == first_new.metrics
    assert first.training_config == first_new.training_config
    assert first.feature_list == tuple(first_new.feature_list)
    assert [m.model_version for m in list_models(conn)] == [
        first.model_version,
        second.model_version,
    ]


def test_mismatching_h2o_version_is_registered_flagged_and_refused(
    conn: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    pinned = pinned_versions().h2o_version
    with caplog.at_level(logging.WARNING, logger="shared.registry"):
        model = register_model(conn, new_model(h2o_version="3.40.0.1"))

    assert not model.h2o_version_matches
    assert not get_model(conn, model.model_version).h2o_version_matches
    assert any("3.40.0.1" in r.getMessage() and pinned in r.getMessage() for r in caplog.records)
    with pytest.raises(H2OVersionMismatchError, match=rf"3\.40\.0\.1.*{re.escape(pinned)}"):
        promote(conn, model.model_version, "looks good")
    assert current_champion(conn) is None

    champion = promote(conn, model.model_version, "known-good", allow_version_mismatch=True)
    assert champion.model.model_version == model.model_version


def test_promote_makes_the_champion_and_keeps_history(conn: Conn) -> None:
    first = register_model(conn, new_model())
    second = register_model(conn, new_model())
    assert current_champion(conn) is None

    promote(conn, first.model_version, "first model")
    champion = promote(conn, second.model_version, "better auc")

    current = current_champion(conn)
    assert current == champion
    assert current.model == second and current.reason == "better auc"
    history = promotion_history(conn)
    assert [(p.model.model_version, p.reason) for p in history] == [
        (second.model_version, "better auc"),
        (first.model_version, "first model"),
    ]


def test_rollback_re_promotes_an_earlier_champion(conn: Conn) -> None:
    first = register_model(conn, new_model())
    second = register_model(conn, new_model())
    promote(conn, first.model_version, "first")
    promote(conn, second.model_version, "second")

    rolled = rollback(conn, first.model_version, "p99 regression")

    assert current_champion(conn) == rolled
    assert rolled.model == first
    assert rolled.reason == f"rollback from {second.model_version}: p99 regression"
    assert [p.model.model_version for p in promotion_history(conn)] == [
        first.model_version,
        second.model_version,
        first.model_version,
    ]


def test_refused_moves_name_their_cause_and_change_nothing(conn: Conn) -> None:
    first = register_model(conn, new_model())
    never = register_model(conn, new_model())
    with pytest.raises(RegistryError, match="no model was ever promoted"):
        rollback(conn, first.model_version, "nothing yet")
    promote(conn, first.model_version, "first")

    with pytest.raises(RegistryError, match="already the champion"):
        promote(conn, first.model_version, "again")
    with pytest.raises(RegistryError, match=f"model_version {never.model_version} was never"):
        rollback(conn, never.model_version, "not a rollback")
    with pytest.raises(RegistryError, match="non-empty reason"):
        promote(conn, never.model_version, "  ")
    with pytest.raises(ModelNotFoundError, match="no model with model_version 999"):
        promote(conn, 999, "ghost")
    with pytest.raises(ModelNotFoundError):
        get_model(conn, 999)

    assert [p.model.model_version for p in promotion_history(conn)] == [first.model_version]


def test_promotion_notifies_the_champion_channel(conn: Conn, database_url: str) -> None:
    model = register_model(conn, new_model())
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHAMPION_CHANNEL}")
        promote(conn, model.model_version, "notify me")
        notifies = list(listener.notifies(timeout=5, stop_after=1))

    assert [(n.channel, n.payload) for n in notifies] == [
        (CHAMPION_CHANNEL, str(model.model_version))
    ]


def test_promotion_inside_a_rolled_back_transaction_is_not_announced(
    conn: Conn, database_url: str
) -> None:
    model = register_model(conn, new_model())
    with psycopg.connect(database_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHAMPION_CHANNEL}")
        with conn.transaction():
            promote(conn, model.model_version, "will be rolled back")
            raise psycopg.Rollback()
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
    assert current_champion(conn) is None


def test_async_champion_matches_sync(conn: Conn, database_url: str) -> None:
    model = register_model(conn, new_model())

    async def read() -> Any:
        async with await psycopg.AsyncConnection.connect(database_url) as aconn:
            return await current_champion_async(aconn)

    assert asyncio.run(read()) is None
    promote(conn, model.model_version, "async")
    assert asyncio.run(read()) == current_champion(conn)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"artifact_sha256": "abc"}, "artifact_sha256"),
        ({"artifact_uri": "http://x/model.zip"}, "artifact_uri"),
        ({"metrics": {"auc": float("nan")}}, "metrics"),
        ({"training_config": {"grid": [1.0, float("inf")]}}, "training_config"),
        ({"feature_list": ["a", "b", "a"]}, "feature_list"),
        ({"feature_list": []}, "feature_list"),
        ({"git_commit_sha": ""}, "git_commit_sha"),
        ({"ntrees": 5}, "ntrees"),
    ],
)
def test_new_model_rejects_bad_input_naming_the_field(
    overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        new_model(**overrides)
    assert field in {str(e["loc"][0]) for e in raised.value.errors()}


def test_new_model_is_strict_about_types() -> None:
    with pytest.raises(ValidationError, match="feature_list"):
        NewModel.model_validate({**new_model().model_dump(), "feature_list": "AGE"})


def test_current_git_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", current_git_commit())
    monkeypatch.setenv("CONVERGE_GIT_COMMIT", "feedbeef")
    assert current_git_commit() == "feedbeef"


def test_concurrent_promotions_are_serialised(conn: Conn, database_url: str) -> None:
    """A second promoter waits for the first to commit, then sees its promotion."""
    model = register_model(conn, new_model())
    outcome: list[BaseException | Champion] = []
    with psycopg.connect(database_url) as first:
        with first.transaction():
            promote(first, model.model_version, "first promoter")

            def second() -> None:
                with psycopg.connect(database_url, autocommit=True) as other:
                    try:
                        outcome.append(promote(other, model.model_version, "second promoter"))
                    except RegistryError as exc:
                        outcome.append(exc)

            worker = threading.Thread(target=second)
            worker.start()
            worker.join(timeout=1.0)
            assert worker.is_alive(), "the second promotion did not wait for the first"
        worker.join(timeout=10)

    assert len(outcome) == 1 and isinstance(outcome[0], RegistryError)
    assert "already the champion" in str(outcome[0])
    assert [p.reason for p in promotion_history(conn)] == ["first promoter"]


def test_an_artifact_is_registered_once(conn: Conn) -> None:
    first = register_model(conn, new_model())
    again = new_model(artifact_sha256=first.artifact_sha256, algo="drf")
    with pytest.raises(DuplicateArtifactError, match=f"model_version {first.model_version}"):
        register_model(conn, again)
    assert [m.model_version for m in list_models(conn)] == [first.model_version]
