"""Loading report inputs and building the payload: pure logic, no browser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from clearft.errors import ClearftError
from clearft.report.load import load_report_input
from clearft.report.payload import (
    agreement,
    average_ranks,
    build_payload,
    histogram,
    scatter_sample,
    spearman,
)

from .test_report_fixtures import (
    failed_record,
    run_dir,
    scored_file,
    scored_record,
    write_csv,
    write_jsonl,
    write_meta,
)


def test_histogram_puts_edges_in_the_right_bins() -> None:
    counts = histogram([0.0, 0.049, 0.05, 0.5, 0.999, 1.0], bins=20)
    assert counts[0] == 2 and counts[1] == 1 and counts[10] == 1 and counts[19] == 2
    assert sum(counts) == 6


def test_average_ranks_share_ties() -> None:
    assert average_ranks([0.3, 0.1, 0.3, 0.9]) == [2.5, 1.0, 2.5, 4.0]


def test_spearman_sign_and_undefined_cases() -> None:
    x = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert spearman(x, [v * 2 for v in x]) == pytest.approx(1.0)
    assert spearman(x, [-v for v in x]) == pytest.approx(-1.0)
    # monotone but non-linear: rank correlation is still exactly 1
    assert spearman(x, [math.exp(10 * v) for v in x]) == pytest.approx(1.0)
    assert spearman(x, [0.5] * 5) is None
    assert spearman([0.1, 0.2], [0.2, 0.1]) is None


def test_spearman_matches_a_hand_computed_value() -> None:
    # ranks x: 1 2 3 4 5, ranks y: 2 1 4 3 5 -> d^2 sum = 4 -> rho = 1 - 6*4/(5*24) = 0.8
    assert spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)


def test_agreement_pairs_only_rows_scored_by_both() -> None:
    a = [0.1, 0.2, None, 0.4, 0.5]
    b = [0.1, None, 0.3, 0.4, 0.5]
    result = agreement(["a", "b"], [a, b])
    assert result["shared"][0][1] == 3
    assert result["spearman"][0][1] == pytest.approx(1.0)


def test_scatter_sample_is_seeded_and_bounded() -> None:
    x = [i / 5000 for i in range(5000)]
    first = scatter_sample(x, x, limit=100)
    assert len(first) == 100 and first == scatter_sample(x, x, limit=100)


def test_scored_jsonl_with_meta(tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=10, threshold=0.4)
    payload = build_payload(load_report_input([path]))
    assert payload["methods"] == ["bsdetector"]
    assert payload["threshold"] == 0.4
    assert payload["settings"]["seed"] == 7
    rows = payload["rows"]
    assert len(rows) == 10 and payload["counts"]["errors"] == 1
    failed = next(r for r in rows if r["id"] == "row-0003")
    assert failed["confidence"] is None and failed["error"] == "backend timed out"
    row = next(r for r in rows if r["id"] == "row-0001")
    assert row["prompt"].startswith("Classify sentence 1") and row["target"] == "positive"
    assert [s["similarity"] for s in row["samples"]] == [0.0, 0.25, 0.5]
    assert row["reflections"][0]["probs"] == {"A": 0.6, "B": 0.3, "C": 0.1}
    assert row["reflections"][1]["explanation"] == "reflection 2 on row 1"
    below = [r for r in rows if r["status"] == "below threshold"]
    assert len(below) == payload["counts"]["below_threshold"]
    assert all(r["confidence"] < 0.4 for r in below)
    assert sum(payload["chart"]["bins"]) == 9


def test_explicit_threshold_wins_over_meta(tmp_path: Path) -> None:
    path = scored_file(tmp_path, n=10, threshold=0.4)
    assert build_payload(load_report_input([path]), threshold=0.9)["threshold"] == 0.9


def test_csv_scored_file_gets_its_types_back(tmp_path: Path) -> None:
    records = [scored_record(i) for i in range(6)] + [failed_record(6)]
    path = write_csv(tmp_path / "scored.csv", records)
    payload = build_payload(load_report_input([path]))
    rows = {r["id"]: r for r in payload["rows"]}
    assert rows["row-0001"]["confidence"] == pytest.approx(0.37)
    assert rows["row-0001"]["samples"][1]["answer"] == "positive"
    assert rows["row-0006"]["confidence"] is None and rows["row-0006"]["error"] == "backend timed out"


def test_parquet_scored_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [{k: v for k, v in scored_record(i).items() if k != "clearft_evidence"} for i in range(5)]
    path = tmp_path / "scored.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    payload = build_payload(load_report_input([path]))
    assert [r["id"] for r in payload["rows"]] == [f"row-{i:04d}" for i in range(5)]
    assert payload["rows"][2]["confidence"] == pytest.approx(0.74)


def test_nan_and_infinite_scores_become_missing(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [scored_record(0), scored_record(1)])
    text = path.read_text().replace('"confidence": 0.0', '"confidence": NaN')
    path.write_text(text)
    payload = build_payload(load_report_input([path]))
    assert payload["rows"][0]["confidence"] is None
    json.dumps(payload, allow_nan=False)  # the page's JSON must be strict JSON


def test_confidence_columns_add_methods_and_agreement(tmp_path: Path) -> None:
    records = [scored_record(i, **{"confidence__perplexity": i / 20, "confidence__ifd": 1 - i / 20})
               for i in range(20)]
    path = write_jsonl(tmp_path / "s.jsonl", records)
    payload = build_payload(load_report_input([path]))
    assert payload["methods"] == ["bsdetector", "ifd", "perplexity"]
    matrix = payload["agreement"]["spearman"]
    assert matrix[1][2] == pytest.approx(-1.0)  # ifd is perplexity reversed
    assert payload["scatter"]["x"] == "bsdetector" and len(payload["scatter"]["points"]) == 20
    assert payload["rows"][4]["scores"] == [pytest.approx(0.8), pytest.approx(0.2)]


def test_several_files_join_by_id(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [scored_record(i) for i in range(10)])
    write_meta(a, method="bsdetector")
    # b: another method, rows in another order, one id a lacks, one a row b lacks
    b_records = [scored_record(i, confidence=i / 10, clearft_method="perplexity") for i in range(9, 0, -1)]
    b_records.append(scored_record(99, clearft_method="perplexity"))
    b = write_jsonl(tmp_path / "b.jsonl", b_records)
    report_input = load_report_input([a, b])
    assert report_input.methods == ["bsdetector", "perplexity"]
    payload = build_payload(report_input)
    by_id = {r["id"]: r for r in payload["rows"]}
    assert by_id["row-0007"]["scores"] == [pytest.approx(0.7)]
    assert by_id["row-0000"]["scores"] == [None]
    assert "row-0099" not in by_id
    assert any("1 ids are not in a.jsonl" in w for w in payload["warnings"])
    assert any("no score for 1 rows" in w for w in payload["warnings"])


def test_same_method_twice_gets_told_apart(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [scored_record(i) for i in range(5)])
    b = write_jsonl(tmp_path / "b.jsonl", [scored_record(i) for i in range(5)])
    assert load_report_input([a, b]).methods == ["bsdetector", "bsdetector (b)"]


def test_run_directory(tmp_path: Path) -> None:
    d = run_dir(tmp_path)
    payload = build_payload(load_report_input([d]))
    counts = payload["counts"]
    assert counts["rows"] == 20
    assert counts["status"]["kept"] + counts["status"]["dropped"] + counts["status"]["corrected"] == 20
    assert counts["status"]["corrected"] == counts["corrected"] > 0
    assert payload["accuracy"]["filtered"] == {"accuracy": 0.62, "n": 150}
    assert payload["threshold"] == 0.5
    assert payload["run_settings"]["model_id"] == "SmolLM2-135M-Instruct"
    corrected = [r for r in payload["rows"] if r["status"] == "corrected"]
    c = corrected[0]["correction"]
    assert c["replaced"] and c["candidate"] == "positive" and c["judge_confidence"] == 0.91
    # each corrected row shows the response its scored record had before the correction
    assert [r["correction"]["original"] for r in corrected] == \
        [scored_record(int(r["id"][-4:]))["response"] for r in corrected]
    assert {r["correction"]["original"] for r in corrected} == {"negative", "positive"}
    assert c["explanation"].startswith("judge on row")


def test_unfinished_run_directory_is_reported_with_a_warning(tmp_path: Path) -> None:
    d = run_dir(tmp_path, summary=False)
    (d / "corrected.jsonl").unlink()
    payload = build_payload(load_report_input([d]))
    assert payload["accuracy"] is None and payload["counts"]["corrected"] == 0
    assert any("no summary.json" in w for w in payload["warnings"])


def test_nothing_to_report_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClearftError, match="no scored"):
        load_report_input([tmp_path / "empty"])
    with pytest.raises(ClearftError, match="no such file"):
        load_report_input([tmp_path / "missing.jsonl"])


def test_bad_jsonl_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(scored_record(0)) + "\n{not json\n")
    with pytest.raises(ClearftError, match="line 2"):
        load_report_input([path])


@pytest.mark.parametrize(("record", "prompt", "target"), [
    ({"messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "hello"}]}, "system: be terse\n\nuser: hi", "hello"),
    ({"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]},
     "human: 2+2?", "4"),
    ({"instruction": "Translate", "input": "chat", "output": "cat"}, "Translate\n\nchat", "cat"),
    ({"prompt": [{"role": "user", "content": "q"}], "completion": "a"}, "user: q", "a"),
    ({"question": "Why?", "answer": "Because."}, "Why?", "Because."),
    ({"messages": json.dumps([{"role": "user", "content": "csv"}, {"role": "assistant", "content": "ok"}])},
     "user: csv", "ok"),
    ({"something": "else"}, "", ""),
])
def test_guess_prompt_and_target_without_the_data_layer(record: dict, prompt: str, target: str) -> None:
    from clearft.report.load import guess_prompt_and_target

    assert guess_prompt_and_target(record) == (prompt, target)


def test_other_fields_skip_what_the_prompt_and_target_already_show(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "s.jsonl", [scored_record(0, topic="finance", note="")])
    row = build_payload(load_report_input([path]))["rows"][0]
    assert row["other"] == {"topic": "finance", "note": ""}


def test_light_cli_start_does_not_load_the_report_code() -> None:
    import subprocess
    import sys

    code = ("import sys; from clearft.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('clearft.report', 'selenium', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_run_with_two_correction_rounds_and_the_filter_threshold_in_stages(tmp_path: Path) -> None:
    from .test_report_fixtures import corrected_record

    d = run_dir(tmp_path)
    summary = json.loads((d / "summary.json").read_text())
    del summary["settings"]["threshold"]
    summary["stages"]["filter"] = {"rows": 20, "kept": 10, "dropped": 10, "threshold": 0.45}
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "scored.jsonl.meta.json").unlink()
    before = {r["id"]: r for r in build_payload(load_report_input([d]))["rows"]}
    assert before["row-0001"]["status"] == "dropped" and not before["row-0001"]["correction"]["replaced"]
    # Iteration 2 replaces row 1, which iteration 1 judged but left alone.
    write_jsonl(d / "uncorrected_2.jsonl", [])
    write_jsonl(d / "corrected_2.jsonl", [corrected_record(1, replaced=True)])
    payload = build_payload(load_report_input([d]))
    assert payload["threshold"] == 0.45
    row1 = next(r for r in payload["rows"] if r["id"] == "row-0001")
    assert row1["status"] == "corrected" and row1["correction"]["replaced"]


def test_hugging_face_folder_is_not_taken_for_a_run_directory(tmp_path: Path) -> None:
    from clearft.report.load import is_run_directory

    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "dataset_info.json").write_text("{}")
    assert not is_run_directory(tmp_path / "hf")
    assert is_run_directory(run_dir(tmp_path))


def test_evidence_judge_views_reach_the_payload_and_the_page(tmp_path: Path) -> None:
    from clearft.report import build_report

    from .test_report_fixtures import corrected_record, evidence_corrected_record
    from .test_report_render import split_page

    supports = evidence_corrected_record(2, replaced=False)  # refused: the evidence backs the target
    supports["clearft_correction"].update(
        reason="evidence_supports_target", label="negative", candidate="negative", confidence=0.9,
        views={"classifier": {"label": "negative", "prob": 0.9}},
        errors=["candidate 'pos' is not one of the dataset's labels"])
    records = [evidence_corrected_record(0, replaced=True), evidence_corrected_record(1, replaced=False),
               supports, corrected_record(3, replaced=True)]
    for path in (write_jsonl(tmp_path / "c.jsonl", records), write_csv(tmp_path / "c.csv", records)):
        payload = build_payload(load_report_input([path]))
        rows = {r["id"]: r["correction"] for r in payload["rows"]}
        replaced, refused, kept, llm = (rows[f"row-000{i}"] for i in range(4))
        assert replaced["judge"] == "evidence" and replaced["replaced"] and replaced["reason"] == "replaced"
        assert replaced["label"] == "positive" and replaced["confidence"] == 0.86
        assert replaced["views"] == [{"name": "classifier", "label": "positive", "prob": 0.72, "agrees": True},
                                     {"name": "model", "label": "positive", "prob": 1.0, "agrees": True}]
        # A refusal keeps its reason; the view that backed another label does not agree.
        assert not refused["replaced"] and refused["reason"] == "evidence_not_confident"
        assert [(v["name"], v["agrees"]) for v in refused["views"]] == [("classifier", False), ("model", True)]
        assert refused["confidence"] == 0.55
        assert kept["reason"] == "evidence_supports_target"
        assert kept["errors"] == ["candidate 'pos' is not one of the dataset's labels"]
        # Shown in their own places, not repeated under the judge's other details.
        assert not {"judge", "reason", "label", "confidence", "views", "errors"} & set(replaced["details"])
        # The llm judge's rows are as before, with their reason, and no views.
        assert llm["judge"] == "llm" and llm["reason"] == "judge_prefers_candidate"
        assert llm["views"] == [] and llm["judge_confidence"] == 0.91
    html = build_report([tmp_path / "c.jsonl"], tmp_path / "r.html").path.read_text(encoding="utf-8")
    data_text, script, _ = split_page(html)
    shown = {r["id"]: r["correction"] for r in json.loads(data_text)["rows"]}
    assert shown["row-0001"]["views"] == refused["views"] and shown["row-0001"]["reason"] == "evidence_not_confident"
    # The page's script draws them: a views table, the combined confidence and the reason.
    assert 'section("Views (' in script and '"combined confidence (mean of the views)"' in script and '["reason", ' in script
