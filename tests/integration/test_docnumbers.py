"""Document numbers are gapless and unique per type, year and issuing unit, even with 16 concurrent issuers of which
some roll back."""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa

from core.docnumbers import DocumentType, issue
from core.pgcluster import PrivateCluster
from tests.integration.kernel_support import migrated_database

RECTIFICATION = DocumentType("hidden_danger_rectification", "{unit}隐改〔{year}〕{seq:04d}号")
LISTING = DocumentType("supervised_listing", "{unit}督〔{year}〕{seq}号")


@pytest.fixture(scope="module")
def engine(pg_cluster: PrivateCluster) -> Iterator[sa.Engine]:
    for url in migrated_database(pg_cluster, "k_docnumbers"):
        engine = sa.create_engine(url, pool_size=20, max_overflow=0)
        yield engine
        engine.dispose()


def test_numbers_read_as_the_type_says(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = issue(conn, RECTIFICATION, "示应急", date(2026, 3, 2), subject="case:1")
        second = issue(conn, RECTIFICATION, "示应急", date(2026, 3, 2))
        other_unit = issue(conn, RECTIFICATION, "示东应急", date(2026, 3, 2))
        other_year = issue(conn, RECTIFICATION, "示应急", date(2027, 1, 5))
        other_type = issue(conn, LISTING, "示应急", date(2026, 3, 2))
    assert (first.number, second.number) == ("示应急隐改〔2026〕0001号", "示应急隐改〔2026〕0002号")
    assert other_unit.number == "示东应急隐改〔2026〕0001号"   # each unit, year and type counts on its own
    assert other_year.number == "示应急隐改〔2027〕0001号"
    assert other_type.number == "示应急督〔2026〕1号"


def test_a_rolled_back_issue_consumes_no_number(engine: sa.Engine) -> None:
    on = date(2025, 6, 1)
    with engine.connect() as conn:
        with conn.begin() as tx:
            assert issue(conn, RECTIFICATION, "示西应急", on).seq == 1
            tx.rollback()
        with conn.begin():
            assert issue(conn, RECTIFICATION, "示西应急", on).number == "示西应急隐改〔2025〕0001号"


def test_issuing_outside_a_transaction_is_refused(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            issue(conn, RECTIFICATION, "示应急", date(2026, 1, 5))


@pytest.mark.parametrize(("template", "problem"), [
    ("{unit}隐改〔{year}〕号", "must contain {seq}"),
    ("隐改〔{year}〕{seq}号", "must contain {unit}"),
    ("{unit}〔{year}〕{seq}{user}号", "{user} is not one of"),
    ("{unit}〔{year:>6}〕{seq}号", "format {year:>6} is not allowed"),
    ("{unit}〔{year}〕{seq!r}号", "{seq} is not one of"),
])
def test_a_bad_template_is_refused_with_the_reason(template: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        DocumentType("x", template)


def test_sixteen_concurrent_issuers_leave_no_gap_and_no_duplicate(engine: sa.Engine) -> None:
    """Each thread has its own connection and transaction; about a third roll back after taking a number (and
    hold the counter a moment first, so that others queue behind an issue that will vanish)."""
    unit, on, per_thread = "示并发", date(2026, 12, 7), 12
    committed: list[str] = []
    rolled_back = 0
    lock = threading.Lock()
    start = threading.Barrier(16)
    errors: list[BaseException] = []

    def issuer(seed: int) -> None:
        nonlocal rolled_back
        rng = random.Random(seed)
        try:
            with engine.connect() as conn:
                start.wait()
                for _ in range(per_thread):
                    tx = conn.begin()
                    number = issue(conn, RECTIFICATION, unit, on, subject=f"thread:{seed}").number
                    conn.execute(sa.text("SELECT pg_sleep(:s)"), {"s": rng.random() * 0.004})
                    if rng.random() < 0.35:
                        tx.rollback()
                        with lock:
                            rolled_back += 1
                    else:
                        tx.commit()
                        with lock:
                            committed.append(number)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=issuer, args=(seed,)) for seed in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert rolled_back > 0 and len(committed) + rolled_back == 16 * per_thread
    seqs = sorted(int(re.fullmatch(r"示并发隐改〔2026〕(\d{4})号", n)[1]) for n in committed)
    assert seqs == list(range(1, len(committed) + 1))  # gapless from 1, no duplicate
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT number FROM document_numbers WHERE unit = :u ORDER BY seq"),
                              {"u": unit}).scalars().all()
        last = conn.execute(sa.text("SELECT last_seq FROM document_number_counters WHERE unit = :u"),
                            {"u": unit}).scalar_one()
    assert sorted(stored) == sorted(committed) and last == len(committed)


def test_the_database_refuses_a_duplicate_even_behind_the_functions_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        issued = issue(conn, LISTING, "示重复", date(2026, 5, 6))
    with pytest.raises(sa.exc.IntegrityError, match="uq_document_numbers"), engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO document_numbers (doc_type, year, unit, seq, number) "
                             "VALUES (:t, 2026, '示重复', 1, 'x')"), {"t": issued.doc_type})
