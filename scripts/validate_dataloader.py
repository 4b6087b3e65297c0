"""Find N+1 GraphQL resolvers: SQL statements per request with 1, 10 and 50 items.

    python scripts/validate_dataloader.py --schema serving/graphql/schema.py \
        --database-url postgresql://postgres@127.0.0.1/scratch --mojo champion.zip

The schema module is loaded from its path and must expose `build_schema(cfg: ServingSettings)`,
as serving/graphql/schema.py does; it is served by the real serving app (in this process, with
the app's own GraphQL context and loaders). Its introspection gives every path from the root to
a field that passes through a list-returning field; each path becomes one query, run with N = 1,
10 and 50 items. A path whose statement count grows with N while its parent path's does not names
the resolver at fault (`Type.field`).

Seeding contract: --database-url must be a scratch database migrated to converge's schema, on a
server that loads pg_stat_statements (shared_preload_libraries), which counts the statements.
Before each N the script grows the data to N items through shared/: N entities in the feature
store (the MOJO's columns as features), N model versions (the --mojo bytes plus a marker file,
so each is a distinct, loadable artifact) in the artifact store and registry, each promoted once.
List arguments get the first N entity ids (text) or model versions (integers); integer arguments
named like a limit get N; other required arguments get one seeded item.

Exit 0: no statement count grows with N; 1: it grows (the resolvers are named); 2: no check.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import sys
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

# Run as a plain script from a checkout: make the repository importable without installing it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
import redis

SIZES = (1, 10, 50)
MAX_PATH_FIELDS = 4  # a path of root field + 3 nested fields stays within the app's depth limit
LIMIT_ARGUMENTS = {"limit", "first", "last", "top", "count", "n"}
COUNT_SQL = """
SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT LIKE '%%pg_stat_statements%%'
"""


class CheckError(RuntimeError):
    """The check could not be made (bad schema module, unusable database); the message says why."""


# ---- the schema: which paths to query --------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One field of a path: where it is declared and its introspected arguments."""

    parent_type: str
    name: str
    arguments: tuple[dict[str, Any], ...] = field(compare=False)
    is_list: bool
    returns_object: bool

    @property
    def resolver(self) -> str:
        """The resolver's name as `Type.field`."""
        return f"{self.parent_type}.{self.name}"


Path_ = tuple[Step, ...]


def _unwrap(type_ref: dict[str, Any]) -> tuple[dict[str, Any], bool, bool]:
    """(named type, is a list, is non-null) of an introspected type reference."""
    non_null = type_ref["kind"] == "NON_NULL"
    is_list = False
    while type_ref["kind"] in ("NON_NULL", "LIST"):
        is_list = is_list or type_ref["kind"] == "LIST"
        type_ref = type_ref["ofType"]
    return type_ref, is_list, non_null


def list_paths(introspection: dict[str, Any]) -> list[Path_]:
    """Every path from the root through a list-returning field (no type twice on a path)."""
    schema = introspection["__schema"]
    types = {t["name"]: t for t in schema["types"]}
    paths: list[Path_] = []

    def walk(type_name: str, prefix: Path_, seen: frozenset[str]) -> None:
        for member in types[type_name]["fields"] or ():
            named, is_list, _ = _unwrap(member["type"])
            is_object = named["kind"] in ("OBJECT", "INTERFACE")
            step = Step(type_name, member["name"], tuple(member["args"]), is_list, is_object)
            path = (*prefix, step)
            if any(s.is_list for s in path):
                paths.append(path)
            nested = is_object and named["name"] not in seen
            if nested and len(path) < MAX_PATH_FIELDS:
                walk(named["name"], path, seen | {named["name"]})

    root = schema["queryType"]["name"]
    walk(root, (), frozenset({root}))
    return paths


@dataclass(frozen=True)
class Seeds:
    """What the database holds: entity ids and model versions, oldest first."""

    entity_ids: list[str]
    model_versions: list[int]


def argument_value(argument: dict[str, Any], n: int, seeds: Seeds) -> str | None:
    """A GraphQL literal for `argument` with N = `n`, or None to leave it out."""
    named, is_list, non_null = _unwrap(argument["type"])
    required = non_null and argument["defaultValue"] is None
    kind, name = named["kind"], named["name"]
    if is_list and name in ("String", "ID"):
        return json.dumps(seeds.entity_ids[:n])
    if is_list and name == "Int":
        return json.dumps(seeds.model_versions[:n])
    if name == "Int" and argument["name"].lower() in LIMIT_ARGUMENTS:
        return str(n)
    if not required:
        return None
    simple: dict[str, str] = {
        "Int": str(seeds.model_versions[0]),
        "String": json.dumps(seeds.entity_ids[0]),
        "ID": json.dumps(seeds.entity_ids[0]),
        "Boolean": "false",
        "Float": "0",
        "DateTime": json.dumps(datetime.now(UTC).isoformat()),
    }
    if kind == "SCALAR" and name in simple and not is_list:
        return simple[name]
    raise CheckError(f"cannot fill required argument {argument['name']}: {name}")


def render_query(path: Path_, n: int, seeds: Seeds) -> str:
    """The query selecting `path`: `{ a(args) { b { c } } }` (`__typename` under an object leaf)."""
    text = "__typename" if path[-1].returns_object else ""
    for step in reversed(path):
        values = {a["name"]: argument_value(a, n, seeds) for a in step.arguments}
        given = ", ".join(f"{k}: {v}" for k, v in values.items() if v is not None)
        head = f"{step.name}({given})" if given else step.name
        text = f"{head} {{ {text} }}" if text else head
    return "{ " + text + " }"


# ---- seeding -------------------------------------------------------------------------------------


class Seeder:
    """Grows the scratch database to N entities and N promoted model versions through shared/."""

    def __init__(self, database_url: str, store_uri: str, mojo: Path, workdir: Path) -> None:
        from shared.artifacts import open_artifact_store
        from shared.mojo.loader import load_mojo

        self.database_url = database_url
        self.store = open_artifact_store(store_uri)
        self.mojo = mojo
        self.workdir = workdir
        model = load_mojo(mojo)
        self.columns = list(model.columns)
        self.algo = model.algo
        self.h2o_version = model.h2o_version
        # A value every column reads: its first level when categorical, else a number.
        self.features: dict[str, object] = {
            column: model.domains[column][0] if model.domains.get(column) else 1.0
            for column in model.columns
        }
        self.run = uuid.uuid4().hex[:8]
        self.seeds = Seeds([], [])

    def grow_to(self, n: int) -> Seeds:
        """Add entities and models until there are `n` of each; the last model is the champion."""
        import pandas as pd

        from shared.feature_store import ingest_frame

        now = datetime.now(UTC)
        new_ids = [f"dataloader-{self.run}-{i:04d}" for i in range(len(self.seeds.entity_ids), n)]
        rows = pd.DataFrame(
            [{"entity_id": e, "event_timestamp": now, **self.features} for e in new_ids]
        )
        with psycopg.connect(self.database_url) as conn:
            summary = ingest_frame(conn, rows, "entity_id", "event_timestamp", "seed")
            if summary.rows_quarantined:
                raise CheckError(f"seeding quarantined {summary.rows_quarantined} feature rows")
            versions = [self._register(conn, i) for i in range(len(self.seeds.model_versions), n)]
        self.seeds = Seeds(self.seeds.entity_ids + new_ids, self.seeds.model_versions + versions)
        return self.seeds

    def _register(self, conn: psycopg.Connection[Any], index: int) -> int:
        from shared.registry import NewModel, promote, register_model

        variant = self.workdir / f"model-{self.run}-{index}.zip"
        variant.write_bytes(self.mojo.read_bytes())
        with zipfile.ZipFile(variant, "a") as bundle:  # a distinct sha256, the same model
            bundle.writestr(f"converge-seed/{self.run}-{index}.txt", "validate_dataloader seed\n")
        stored = self.store.put_file(variant)
        new = NewModel(
            artifact_uri=stored.uri,
            artifact_sha256=stored.sha256,
            git_commit_sha="validate-dataloader",
            h2o_version=self.h2o_version,
            algo=self.algo,
            metrics={"seed": index},
            training_config={"seeded_by": "validate_dataloader.py"},
            feature_list=self.columns,
            orchestrator="cli",
        )
        version = register_model(conn, new).model_version
        promote(conn, version, f"validate_dataloader seed {index}")
        return version


# ---- counting and running ------------------------------------------------------------------------


SETTLE_POLL_S = 0.3
SETTLE_TIMEOUT_S = 20.0


class StatementCounter:
    """Statements run in the scratch database so far, from pg_stat_statements."""

    def __init__(self, database_url: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)
        try:
            self.conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            self.count()
        except psycopg.Error as exc:
            self.conn.close()
            raise CheckError(
                "pg_stat_statements is not usable on this server (it must be in "
                f"shared_preload_libraries): {str(exc).strip()}"
            ) from exc

    def count(self) -> int:
        """The calls recorded for this database, this counter's own queries left out."""
        row = self.conn.execute(COUNT_SQL).fetchone()
        assert row is not None
        return int(row[0])

    async def settle(self) -> None:
        """Wait until no statement runs (the app's start-up work: champion load, LISTEN)."""
        deadline = asyncio.get_running_loop().time() + SETTLE_TIMEOUT_S
        last = await asyncio.to_thread(self.count)
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(SETTLE_POLL_S)
            now = await asyncio.to_thread(self.count)
            if now == last:
                return
            last = now
        raise CheckError(f"the database never went quiet within {SETTLE_TIMEOUT_S:.0f} s")


def load_schema_builder(path: Path) -> Callable[..., Any]:
    """The `build_schema` function of the module at `path`."""
    if not path.is_file():
        raise CheckError(f"--schema: no file at {path}")
    name = f"converge_checked_schema_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckError(f"--schema: {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Strawberry resolves the module's annotations through it
    spec.loader.exec_module(module)
    builder = getattr(module, "build_schema", None)
    if not callable(builder):
        raise CheckError(f"--schema: {path} has no build_schema(cfg) function")
    return cast(Callable[..., Any], builder)


@contextlib.asynccontextmanager
async def serving_client(
    builder: Callable[..., Any],
    database_url: str,
    redis_url: str,
    store_uri: str,
    home: Path,
    cache_prefix: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """The real serving app with the checked schema, started in this process."""
    import serving.graphql.router as router
    from serving.app import create_app
    from serving.config import ServingSettings
    from shared.settings import Settings

    # The app builds its GraphQL router from serving.graphql.schema; the checked module takes its
    # place so that its resolvers get the app's real context and loaders.
    router.build_schema = builder  # type: ignore[attr-defined]
    serving_settings = ServingSettings(
        graphql_ide=True,
        graphql_max_depth=MAX_PATH_FIELDS + 2,
        model_poll_interval_s=3600,  # no registry polling between the counted requests
        loop_lag_warning_ms=60_000,  # this process seeds and counts on its own loop: not the app's
        cache_key_prefix=cache_prefix,
        model_cache_dir=str(home / "models"),
    )
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        artifact_store_uri=store_uri,
        converge_home=home,
    )
    app = create_app(serving_settings, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://validate", timeout=60
        ) as client,
    ):
        yield client


@dataclass
class Measured:
    """Statement counts of one path by N, and its first error if any."""

    path: Path_
    counts: dict[int, int]
    error: str | None = None

    @property
    def text(self) -> str:
        """The path as `a.b.c`."""
        return ".".join(step.name for step in self.path)

    @property
    def grows(self) -> bool:
        """Strictly more statements at each larger N (one-off noise does not count)."""
        series = [self.counts[n] for n in sorted(self.counts)]
        return len(series) > 1 and all(b > a for a, b in itertools.pairwise(series))


async def measure(
    client: httpx.AsyncClient, counter: StatementCounter, query: str
) -> tuple[int, str | None]:
    """(statements the request cost, its first GraphQL error or None)."""
    before = await asyncio.to_thread(counter.count)
    response = await client.post("/graphql", json={"query": query})
    after = await asyncio.to_thread(counter.count)
    if response.status_code != 200:
        return after - before, f"HTTP {response.status_code}: {response.text[:200]}"
    errors = response.json().get("errors")
    return after - before, errors[0]["message"] if errors else None


def clear_cache(cache: redis.Redis, prefix: str) -> None:
    """Delete this run's cached features: each request then reads what a cold cache makes it."""
    for key in cache.scan_iter(match=prefix + "*"):
        cache.unlink(key)


async def check(args: argparse.Namespace, workdir: Path) -> list[Measured]:
    """Seed, then run every path at every N; returns the measurements."""
    builder = load_schema_builder(args.schema)
    from serving.config import ServingSettings

    introspection = builder(ServingSettings(graphql_ide=True)).introspect()
    paths = list_paths(introspection)
    if not paths:
        raise CheckError(f"{args.schema}: the schema has no list-returning field")
    store_uri = args.artifact_store or (workdir / "artifacts").as_uri()
    seeder = Seeder(args.database_url, store_uri, args.mojo, workdir)
    counter = StatementCounter(args.database_url)
    results = {path: Measured(path, {}) for path in paths}
    prefix = f"converge:validate-dataloader:{uuid.uuid4().hex}:"
    cache = redis.Redis.from_url(args.redis_url)
    try:
        for n in SIZES:
            seeds = seeder.grow_to(n)
            async with serving_client(
                builder, args.database_url, args.redis_url, store_uri, workdir / f"home-{n}", prefix
            ) as client:
                await counter.settle()
                for path, result in results.items():
                    try:
                        query = render_query(path, n, seeds)
                    except CheckError as exc:
                        result.error = str(exc)
                        continue
                    await asyncio.to_thread(clear_cache, cache, prefix)
                    count, error = await measure(client, counter, query)
                    result.counts[n] = count
                    result.error = result.error or error
    finally:
        await asyncio.to_thread(clear_cache, cache, prefix)
        cache.close()
        counter.conn.close()
    return list(results.values())


def at_fault(results: list[Measured]) -> list[Measured]:
    """Paths that grow with N while their parent path does not: their last field is at fault."""
    grows = {r.path: r.grows for r in results}
    return [r for r in results if r.grows and not grows.get(r.path[:-1], False)]


def report(results: list[Measured]) -> Iterator[str]:
    """One line per path: statements at each N."""
    for result in results:
        counts = "  ".join(f"N={n}: {c:3d}" for n, c in sorted(result.counts.items()))
        note = f"  ({result.error})" if result.error else ""
        yield f"  {result.text:45s} {counts}{note}"


def main(argv: list[str] | None = None) -> int:
    """Run the check; 0 = no N+1, 1 = a resolver's statements grow with N, 2 = could not check."""
    from shared.settings import get_settings

    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="See the module docstring for the seeding contract.",
    )
    parser.add_argument("--schema", type=Path, required=True, help="path of the schema module")
    parser.add_argument(
        "--database-url", required=True, help="a scratch database (migrated, pg_stat_statements)"
    )
    parser.add_argument("--mojo", type=Path, required=True, help="a MOJO the seeded models use")
    parser.add_argument("--redis-url", default=None, help="Redis of the app (default REDIS_URL)")
    parser.add_argument(
        "--artifact-store", default=None, help="artifact store URI (default: a temporary folder)"
    )
    args = parser.parse_args(argv)
    args.redis_url = args.redis_url or get_settings().redis_url
    if not args.mojo.is_file():
        print(f"validate_dataloader: --mojo: no file at {args.mojo}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="validate-dataloader-") as workdir:
        try:
            results = asyncio.run(check(args, Path(workdir)))
        except (CheckError, psycopg.Error, redis.RedisError, OSError, ValueError) as exc:
            print(f"validate_dataloader: cannot check: {exc}", file=sys.stderr)
            return 2
    print(f"validate_dataloader: SQL statements per request, {len(results)} paths:")
    for line in report(results):
        print(line)
    faulty = at_fault(results)
    for result in faulty:
        print(
            f"validate_dataloader: FAIL: resolver {result.path[-1].resolver} runs statements per "
            f"item ({result.text}: {result.counts})",
            file=sys.stderr,
        )
    if faulty:
        return 1
    print("validate_dataloader: OK: no statement count grows with N")
    return 0


if __name__ == "__main__":
    sys.exit(main())
