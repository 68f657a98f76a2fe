"""Several workers, one project (PostgreSQL only): chats' turns, claims, the leader, failover.

The unit-level tests use two ``Database`` objects on one fresh PostgreSQL database, as two
worker processes would. The end-to-end test runs two real ``everystage run --webhook``
processes on one database, with the sandbox delivering webhooks to both in turn, and kills one
of them (SIGKILL) in the middle of a broadcast. Without ``EVERYSTAGE_TEST_POSTGRES`` these
tests skip, saying why; in CI they fail instead (tests/postgres.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.bots import bench_config
from bench.chaos import Crowd, Person, expected_answer, stored_value
from bench.workers import WorkerProcess
from bot.polling import StartupError
from bot.sandbox import Sandbox, SandboxClient
from bot.settings import Settings
from storage import inbox, leases, outbox, participants
from storage.db import Database
from tests import postgres
from tests.conftest import EXAMPLE, Backend, join, rows, running

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
async def two() -> AsyncIterator[tuple[Database, Database]]:
    """Two workers' databases: one fresh PostgreSQL database, opened twice."""
    server = postgres.server()
    fresh = server.fresh()
    first = await Database.open(fresh.url, password=fresh.password)
    second = await Database.open(fresh.url, password=fresh.password)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()
        server.drop(fresh.name)


async def worker(db: Database, name: str) -> leases.Session:
    """Register a worker with a session of its own, as bot/leader.py does."""
    session = await leases.Session.open(db)
    await leases.beat(db, name, NOW, session.pid)
    return session


async def gone(db: Database, name: str) -> None:
    """Wait until the server has noticed that a worker's session closed."""
    async with asyncio.timeout(10):
        while name in await leases.live_workers(db):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def update(update_id: int, chat: int) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "P"},
            "text": "hello",
        },
    }


async def test_a_chat_turn_is_one_workers_until_given_back_or_its_worker_is_gone(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    s1, s2 = await worker(db1, "w1"), await worker(db2, "w2")
    chat = 4242
    await inbox.store(db1, [update(1, chat), update(2, chat)], NOW, [chat, chat])

    assert (await leases.acquire(db1, chat, "w1", NOW)).held
    assert not (await leases.acquire(db2, chat, "w2", NOW)).held  # w1 has it
    assert (await leases.acquire(db1, chat, "w1", NOW)).held  # its own: still its
    # w2 stores update 3 meanwhile and cannot take the turn; w1 gives it back and sees it.
    await inbox.store(db2, [update(3, chat)], NOW, [chat])
    assert not (await leases.acquire(db2, chat, "w2", NOW)).held
    assert await leases.release(db1, chat, "w1") == [1, 2, 3]
    # Whoever holds the turn reads the chat's pending updates, whichever worker stored them.
    assert (await leases.acquire(db1, chat, "w1", NOW)).held
    found = await inbox.take_rows(db1, chat, None, 3, NOW)
    assert [r.update_id for r in found.rows] == [1, 2, 3] and all(r.pending for r in found.rows)
    assert found.rows[2].payload == update(3, chat)
    # Nobody waited this time: giving it back is one statement, and says nothing is new.
    assert await leases.release(db1, chat, "w1") == []

    # w2 takes the free turn, then its process dies holding it (its session closes).
    taken = await leases.acquire(db2, chat, "w2", NOW)
    assert taken.held and not taken.taken_over
    assert await leases.holder(db1, chat) == "w2"
    orphans = await leases.orphans(db1, "w1")
    assert orphans.gone == [] and orphans.loose == []  # w2 is alive and holds it
    await s2.close()
    await gone(db1, "w2")
    assert (await leases.orphans(db1, "w1")).gone == [chat]

    # w1 takes it over.
    assert await leases.acquire(db1, chat, "w1", NOW) == leases.Turn(True, True)
    assert await leases.holder(db1, chat) == "w1"
    # Each handling begun counted an attempt (w1 read them once above).
    found = await inbox.take_rows(db1, chat, 99, 3, NOW)
    assert [r.update_id for r in found.rows] == [1, 2, 3]  # 99 is not in the inbox at all
    found = await inbox.take_rows(db1, chat, 2, 3, NOW)
    assert [r.update_id for r in found.rows] == [1, 2, 3]
    async with db1.read() as tx:
        rows = await tx.all("SELECT attempts FROM inbox WHERE chat_id = ? ORDER BY 1", (chat,))
    assert [r["attempts"] for r in rows] == [3, 3, 3]
    await s1.close()


async def test_updates_begun_three_times_by_workers_that_died_are_given_up(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    chat = 77
    await inbox.store(db1, [update(10, chat), update(11, chat)], NOW, [chat, chat])
    for round_ in range(3):
        # A worker takes the chat, begins handling update 10 and dies (it is poisoned).
        name = f"doomed{round_}"
        session = await worker(db2, name)
        assert (await leases.acquire(db2, chat, name, NOW)).held
        found = await inbox.take_rows(db2, chat, None, 3, NOW)
        assert [r.update_id for r in found.rows] == [10, 11] and found.given_up == 0
        await session.close()
        await gone(db1, name)
    survivor = await worker(db1, "survivor")
    turn = await leases.acquire(db1, chat, "survivor", NOW)
    assert turn.held and turn.taken_over
    found = await inbox.take_rows(db1, chat, None, 3, NOW)
    assert found.given_up == 2 and found.rows == []  # both were in every doomed batch
    async with db1.read() as tx:
        row = await tx.one("SELECT status, error, payload FROM inbox WHERE update_id = 10")
    assert row is not None
    assert (row["status"], row["error"], row["payload"]) == ("failed", "crashed the bot", None)
    await survivor.close()


async def test_a_worker_that_stops_renewing_is_gone_after_its_ttl(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    # No session recorded (pid NULL): only the renewal says it is alive.
    await leases.beat(db2, "quiet", NOW, None)
    assert (await leases.acquire(db2, 5, "quiet", NOW)).held
    assert not (await leases.acquire(db1, 5, "other", NOW)).held
    await db1.write(
        "UPDATE workers SET expires_at = expires_at - ? WHERE id = 'quiet'", (leases.TTL_MS + 1,)
    )
    assert "quiet" not in await leases.live_workers(db1)
    assert (await leases.acquire(db1, 5, "other", NOW)).taken_over


async def test_a_chat_with_pending_updates_and_no_holder_is_loose(
    two: tuple[Database, Database],
) -> None:
    db1, _ = two
    await inbox.store(db1, [update(20, 9), update(21, 0)], NOW, [9, 0])
    found = await leases.orphans(db1, "w1")
    assert found.loose == [0, 9] and found.gone == [] and found.mine == []
    assert (await leases.acquire(db1, 9, "w1", NOW)).held
    assert (await leases.orphans(db1, "w1")).mine == [9]


async def test_an_update_a_live_worker_received_is_left_to_it_until_it_is_gone(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    s1, s2 = await worker(db1, "w1"), await worker(db2, "w2")
    # w2 received it and its task is on the way to the turn: w1's sweep leaves it alone,
    # w2's own sweep looks after it if that task lost it.
    await inbox.store(db2, [update(30, 12)], NOW, [12], "w2")
    assert (await leases.orphans(db1, "w1")).loose == []
    assert (await leases.orphans(db2, "w2")).loose == [12]
    await s2.close()
    await gone(db1, "w2")
    assert (await leases.orphans(db1, "w1")).loose == [12]
    await s1.close()


async def test_the_leader_lock_is_one_sessions_and_passes_on_when_it_closes(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    first, second = await leases.Session.open(db1), await leases.Session.open(db2)
    assert await first.try_lead() is True
    assert await second.try_lead() is False
    assert await first.try_lead() is True  # it holds it still
    await first.close()  # the leader's process died: its connection closed
    async with asyncio.timeout(10):
        while not await second.try_lead():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await second.close()


async def test_workers_claiming_at_once_take_each_due_message_once(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    people = []
    for i in range(40):
        person, _ = await participants.consent(db1, 9000 + i, 1, NOW - timedelta(days=1))
        people.append(person.id)
    await outbox.queue_outbox(
        db1, people, "news:1", "News for everyone", NOW - timedelta(minutes=1)
    )
    await outbox.queue_outbox(db1, people, "news:2", "More news", NOW - timedelta(minutes=1))
    claims: dict[str, list[outbox.Claimed]] = {"w1": [], "w2": []}

    async def claim_all(db: Database, name: str) -> None:
        while True:
            batch = await outbox.claim_due(db, NOW, name, 8, lambda _m: None)
            if batch.found == 0:
                return
            claims[name].extend(batch.claimed)
            await asyncio.sleep(0)

    await asyncio.gather(claim_all(db1, "w1"), claim_all(db2, "w2"))
    taken = [(c.message.table, c.message.id) for name in claims for c in claims[name]]
    assert len(taken) == len(set(taken)) == 80  # every message once, by one worker
    async with db1.read() as tx:
        rows = await tx.all(
            "SELECT worker, count(*) AS n FROM send_attempts WHERE outcome IS NULL GROUP BY worker"
        )
    assert {r["worker"]: r["n"] for r in rows} == {k: len(v) for k, v in claims.items() if v}


async def test_what_a_gone_worker_left_in_flight_is_settled_once(
    two: tuple[Database, Database],
) -> None:
    db1, db2 = two
    person, _ = await participants.consent(db1, 9100, 1, NOW - timedelta(days=1))
    await outbox.queue_outbox(db1, [person.id], "news:x", "News", NOW - timedelta(minutes=1))
    dying = await worker(db2, "dying")
    [claimed] = (await outbox.claim_due(db2, NOW, "dying", 8, lambda _m: None)).claimed
    assert await outbox.in_flight(db1, abandoned=True) == []  # its worker is alive
    await dying.close()
    await gone(db1, "dying")
    [left] = await outbox.in_flight(db1, abandoned=True)
    assert left.attempt == claimed.attempt
    settled = await outbox.settle(db1, left.message, left.attempt, outbox.UNCERTAIN, NOW)
    assert settled == "retry"  # sent once more
    # The worker was not dead after all (a long pause): its own late settling changes nothing.
    late = await outbox.settle(db2, claimed.message, claimed.attempt, outbox.SENT, NOW)
    assert late == outbox.TAKEN
    assert [a["outcome"] for a in await outbox.attempts_of(db1, person.id)] == ["uncertain"]


# -- two real `everystage run --webhook` processes, one killed mid-broadcast --------------------

PEOPLE = 40
QUESTIONS = 4
COORDINATOR = 990001
PULSE = "Pulse check"
NEWS = "Delivery has begun: thank you all."
SLOW_SEND = 1.0  # seconds the sandbox takes over each broadcast message, so a kill lands mid-way


def two_workers_config(workdir: Path) -> Path:
    """The benchmark's button-only check-in, a one-question "pulse" to /ask for, two stages
    (moving to the second is news for everyone), no quiet hours, a tick every second."""
    text = bench_config(QUESTIONS)
    text = text.replace(
        '[project]\nname = "Everystage benchmark"\ncurrent_stage = "design"\n',
        '[project]\nname = "Everystage benchmark"\nstages = ["design", "delivery"]\n'
        'current_stage = "design"\n',
    )
    text = text.replace('[logging]\nlevel = "WARNING"', '[logging]\nlevel = "INFO"')
    text += (
        f'\n[project.stage_messages]\ndelivery = "{NEWS}"\n'
        '\n[nudges]\nquiet_hours = ["00:00", "00:00"]\ncheck_every_seconds = 1\n'
        f"\n[coordinators]\nuser_ids = [{COORDINATOR}]\n"
        f'\n[[checkins]]\nid = "pulse"\ntitle = "{PULSE}"\nintro = "One question."\n'
        '  [[checkins.questions]]\n  id = "p1"\n  kind = "yesno"\n'
        '  text = "Is the new service working for you?"\n'
    )
    path = workdir / "workers.toml"
    path.write_text(text, encoding="utf-8")
    return path


class FickleCrowd(Crowd):
    """Each participant answers, then at once presses another option of the same question (a
    change of mind too late): handled in order, the first press is the answer and the second
    is stale; the other way round, the second would be stored. The sandbox delivers a chat's
    next update as soon as the last was stored, so the two presses often reach different
    workers while the first is being handled.

    A stale press makes the bot show the current question again under a new step (older
    buttons go stale), so a participant answers the next question only once a message of it
    with buttons two steps on from the ones pressed has come: both presses were handled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pressed_step: dict[int, int] = {}

    def _act(self, person: Person) -> bool:
        step = person.step
        if 0 <= step < self.questions - 1 and step in person.answered:
            newest = self._latest(person, f"Question {step + 2} of {self.questions}\n", "a:")
            if newest is None or _step_of(newest) < self.pressed_step[person.index] + 2:
                return False
        return super()._act(person)

    def _press(
        self,
        person: Person,
        message: dict[str, Any],
        pick: Any,
        wanted: str | None = None,
        question: int = -1,
    ) -> None:
        super()._press(person, message, pick, wanted=wanted, question=question)
        if wanted is None:
            return
        self.pressed_step[person.index] = _step_of(message)
        buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        other = next(b for b in buttons if b.get("text") != wanted)
        self.world.press(person.user_id, message["message_id"], other["callback_data"])


def _step_of(message: dict[str, Any]) -> int:
    """The step an answer button's data names (``a:<step>:...``)."""
    rows = message["reply_markup"]["inline_keyboard"]
    data = next(b["callback_data"] for r in rows for b in r if b["callback_data"].startswith("a:"))
    return int(data.split(":")[1])


class Auditor:
    """The test's own async connection to the workers' database."""

    def __init__(self, fresh: postgres.Fresh) -> None:
        self.fresh = fresh
        self.conn: Any = None

    async def __aenter__(self) -> Auditor:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(
            self.fresh.url, password=self.fresh.password, autocommit=True
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def all(self, sql: str, params: tuple = ()) -> list[tuple]:
        cursor = await self.conn.execute(sql, params)
        return list(await cursor.fetchall())

    async def one(self, sql: str, params: tuple = ()) -> Any:
        return (await self.all(sql, params))[0][0]


def copies(world: Any, chat: int, text: str) -> int:
    """How many messages the bot sent to ``chat`` containing ``text``."""
    return sum(
        1
        for m in world.chats[chat].messages.values()
        if m.get("from", {}).get("is_bot") and text in (m.get("text") or "")
    )


async def test_two_workers_one_killed_mid_broadcast_lose_and_double_nothing(
    sandbox: Sandbox, client: SandboxClient, tmp_path: Path
) -> None:
    server = postgres.server()
    fresh = server.fresh()
    config = two_workers_config(tmp_path)
    workers = [WorkerProcess(name, tmp_path / f"{name}.log") for name in ("first", "second")]

    async def slow_broadcasts(method: str, params: Any) -> None:
        text = params.get_str("text") or ""
        if method == "sendMessage" and (PULSE in text or NEWS in text):
            await asyncio.sleep(SLOW_SEND)

    sandbox.hooks.append(slow_broadcasts)
    await client.configure_webhook(first_retry=0.05, max_retry=0.5, timeout=10)
    crowd = FickleCrowd(sandbox, PEOPLE, QUESTIONS, first_id=620000)
    runner: asyncio.Task[None] | None = None
    try:
        for worker in workers:
            await worker.start(sandbox.url, config, fresh.url, fresh.password)
        await asyncio.gather(*(worker.ready() for worker in workers))
        # A load balancer in front of both: each delivery goes to the next of them.
        await client.configure_webhook(targets=[w.url for w in workers])
        [leading] = [w for w in workers if w.said("this worker is the leader")]
        [following] = [w for w in workers if w is not leading]
        assert following.said("this worker is a follower")

        crowd.start()
        runner = asyncio.create_task(crowd.run_until(time.monotonic() + 180))
        async with Auditor(fresh) as db, asyncio.timeout(60):
            # Wait until the bot has stored everyone's consent, so all of them are asked.
            while (  # noqa: ASYNC110
                await db.one("SELECT count(*) FROM participants WHERE status = 'active'") < PEOPLE
            ):
                await asyncio.sleep(0.05)

        # Everyone has agreed and is answering: a nudge to all, and news for all.
        coordinator = await client.user(COORDINATOR, first_name="Coordinator")
        await coordinator.send("/ask pulse")
        await coordinator.expect(PULSE, timeout=20)
        await coordinator.send("/stage delivery")
        await coordinator.expect("Move the project to the delivery stage", timeout=20)
        await coordinator.press("Yes, move to delivery")
        await coordinator.expect("Telling", timeout=20)

        async with Auditor(fresh) as db:
            # Kill the leader while it has broadcast messages on their way.
            mine = f"%-{leading.pid}-%"
            async with asyncio.timeout(60):
                while not await db.one(  # noqa: ASYNC110
                    "SELECT count(*) FROM send_attempts WHERE outcome IS NULL AND worker LIKE %s",
                    (mine,),
                ):
                    await asyncio.sleep(0.01)
            # Until now, whenever a person's next update reached the worker not holding their
            # turn, the holder took it as soon as it gave the turn back: the sweep (for what
            # nobody looks after) never had to.
            assert not [w.name for w in workers if w.said("no live worker held")]
            await leading.stop(signal.SIGKILL)
            people = [p.user_id for p in crowd.people]
            sent_by_kill = sum(
                copies(sandbox.world, chat, PULSE) + copies(sandbox.world, chat, NEWS)
                for chat in people
            )
            assert sent_by_kill < 2 * PEOPLE, "the kill came after the broadcast"

            # The other worker finishes: everyone's answers, the nudge and the news.
            async def unfinished() -> dict[str, Any]:
                left = {
                    "stuck": [p.index for p in crowd.stuck()],
                    "no nudge": [c for c in people if not copies(sandbox.world, c, PULSE)],
                    "no news": [c for c in people if not copies(sandbox.world, c, NEWS)],
                    "in flight": await db.one(
                        "SELECT count(*) FROM send_attempts WHERE outcome IS NULL"
                    ),
                    "pending": await db.one("SELECT count(*) FROM inbox WHERE status = 'pending'"),
                    "unconfirmed": len(sandbox.world.updates),
                    "no new leader": not following.said("this worker is now the leader"),
                }
                return {k: v for k, v in left.items() if v}

            try:
                async with asyncio.timeout(120):
                    while await unfinished():  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
            except TimeoutError:
                raise AssertionError(f"unfinished: {await unfinished()}") from None
            assert await following.stop(signal.SIGTERM) == 0, following.output()[-3000:]

            answers = await db.all(
                "SELECT p.chat_id, a.question_id, a.value, a.id FROM answers a"
                " JOIN participants p ON p.id = a.participant_id WHERE a.checkin_id = 'bench'"
                " ORDER BY a.id"
            )
            # Each attempt, and which broadcast it was for (the pulse nudge, the news; or a
            # reply, the thank-you at the end of the check-in).
            attempts = await db.all(
                "SELECT p.chat_id, CASE WHEN o.checkin_id = 'pulse' THEN 'pulse'"
                " WHEN b.kind = 'news' THEN 'news' ELSE 'other' END, a.worker, a.outcome, a.error"
                " FROM send_attempts a JOIN participants p ON p.id = a.participant_id"
                " LEFT JOIN occurrences o ON a.source = 'occurrences' AND o.id = a.source_id"
                " LEFT JOIN outbox b ON a.source = 'outbox' AND b.id = a.source_id ORDER BY a.id"
            )
            inbox = dict(await db.all("SELECT status, count(*) FROM inbox GROUP BY status"))
    finally:
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for worker in workers:
            await worker.kill()
        server.drop(fresh.name)

    # Every answer stored exactly once, with the value pressed first, in the order asked.
    by_person: dict[int, list[tuple[str, Any]]] = {}
    for chat, question, value, _ in answers:
        by_person.setdefault(chat, []).append((question, json.loads(value)))
    for person in crowd.people:
        assert by_person.get(person.user_id) == [
            (f"q{q + 1}", stored_value(q, expected_answer(person.index, q)))
            for q in range(QUESTIONS)
        ], person.index
    assert len(answers) == PEOPLE * QUESTIONS
    assert inbox == {"handled": inbox["handled"]}  # nothing pending, failed or unreadable

    # Every nudge and piece of news reached everyone once. The one exception is the rule the
    # README states: a message whose request was on its way when its worker was killed has an
    # unknown outcome (Telegram may have delivered it, we could not record that), so it is
    # sent once more, and never again. Only the killed worker's attempts can be such, and each
    # was settled by the survivor as "interrupted".
    killed = f"-{leading.pid}-"
    interrupted = {
        (chat, what)
        for chat, what, worker, outcome, error in attempts
        if outcome == "uncertain" and error == "interrupted"
    }
    assert all(killed in w for _, _, w, _, e in attempts if e == "interrupted")
    doubled = 0
    for chat in people:
        for text, what in ((PULSE, "pulse"), (NEWS, "news")):
            found = copies(sandbox.world, chat, text)
            allowed = 2 if (chat, what) in interrupted else 1
            assert 1 <= found <= allowed, (chat, what, found)
            doubled += found - 1
    # Both workers sent part of the broadcast; the survivor sent what the other left.
    broadcast = [(w, o) for _, what, w, o, _ in attempts if what != "other"]
    assert any(killed in w for w, _ in broadcast)
    assert any(killed not in w and o == "sent" for w, o in broadcast)
    assert doubled <= len(interrupted)
    assert following.said("this worker is now the leader")
    # Logs hold no personal data: no participant's id or name.
    logs = following.output() + leading.output()
    assert not any(str(chat) in logs for chat in people)
    assert "Chaos" not in logs and "Traceback" not in following.output()


# -- long polling on PostgreSQL: one process, alone ------------------------------------------


@pytest.mark.postgresql_only("long polling holds a PostgreSQL project alone")
async def test_long_polling_holds_the_project_alone_and_webhook_workers_wait_for_it(
    make_settings: Callable[..., Settings],
    client: SandboxClient,
    sandbox: Sandbox,
    backend: Backend,
    tmp_path: Path,
) -> None:
    settings = make_settings()
    late = WorkerProcess("late", tmp_path / "late.log")
    async with running(settings):
        person = await client.user(640001)
        await join(person)
        # Only this process receives updates, so it takes no chats' turns to handle them.
        assert rows(settings, "SELECT count(*) FROM chat_leases") == [(0,)]

        # A second poller (started twice by mistake) refuses, saying why...
        with pytest.raises(StartupError, match="long polling needs to be the only one"):
            async with running(make_settings()):
                pass
        # ...and so does a webhook worker, before it sets a webhook.
        await late.start(sandbox.url, EXAMPLE, settings.storage.url, backend.password)
        assert await asyncio.wait_for(late.process.wait(), 60) != 0  # type: ignore[union-attr]
        assert "stop it before starting webhook workers" in late.output()
        await person.send("/help")
        await person.expect("/mydata")  # the first one still serves

    # Once it has stopped, webhook workers may start.
    await late.start(sandbox.url, EXAMPLE, settings.storage.url, backend.password)
    try:
        await late.ready()
        assert await late.stop(signal.SIGTERM) == 0, late.output()[-3000:]
    finally:
        await late.kill()
