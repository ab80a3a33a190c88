"""run_validation and the report: model = reference gives zero error, the JSON and the
report agree, a committee gets a spread and names where it disagrees."""

import json

import pytest
from ase.calculators.emt import EMT
from validation_support import cu_system

from mlip_gnn.validation import (parse_system, read_report_table, run_validation,
                                 write_report)

FAST = ["lattice", "eos", "elastic", "phases", "phonons"]


@pytest.fixture(scope="module")
def same_as_reference():
    spec = parse_system(cu_system(properties=FAST))
    return run_validation(spec, [EMT()], ["EMT"], EMT())


def test_model_equal_to_reference_gives_zero_error(same_as_reference):
    entries = same_as_reference.entries
    assert [e.name for e in entries][:4] == ["lattice_constant", "bulk_modulus",
                                             "bulk_modulus_derivative", "C11"]
    for e in entries:
        assert e.error == 0.0 and e.relative_error == 0.0, e.name
        assert e.spread is None and e.members == [e.model]
    assert same_as_reference.disagreements == []


def test_json_and_report_agree(same_as_reference, tmp_path):
    written = write_report(same_as_reference, tmp_path)
    data = json.loads(written["json"].read_text())
    table = read_report_table(written["report"])
    assert [p["name"] for p in data["properties"]] == list(table)
    for prop in data["properties"]:
        assert set(prop) >= {"name", "unit", "model", "reference", "error",
                             "relative_error", "spread"}
        row = table[prop["name"]]
        assert float(row["model"]) == pytest.approx(prop["model"], rel=1e-5)
        assert float(row["reference"]) == pytest.approx(prop["reference"], rel=1e-5)
        assert row["unit"] == (prop["unit"] or "–")
    for name in ("eos", "phonons", "errors"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000


def test_committee_spread_and_disagreement(tmp_path):
    # EMT with and without ASAP's cutoff: two members that differ a little
    spec = parse_system(cu_system(properties=["lattice", "eos"], committee_tolerance=1e-4))
    result = run_validation(spec, [EMT(), EMT(asap_cutoff=True)], ["a", "b"], EMT())
    by_name = {e.name: e for e in result.entries}
    a = by_name["lattice_constant"]
    assert len(a.members) == 2 and a.members[0] != a.members[1]
    assert a.model == pytest.approx(sum(a.members) / 2, rel=1e-12)
    assert a.spread == pytest.approx(abs(a.members[0] - a.members[1]) / 2, rel=1e-9)
    assert a.error == pytest.approx(a.model - a.reference, abs=1e-12)
    assert "lattice_constant" in result.disagreements
    write_report(result, tmp_path, plots=False)
    text = (tmp_path / "report.md").read_text()
    assert "The committee disagrees" in text and "lattice_constant" in text
    table = read_report_table(tmp_path / "report.md")
    assert float(table["lattice_constant"]["spread"]) == pytest.approx(a.spread, rel=1e-5)


def test_reference_table_compares_with_published_values():
    table = {"values": {"lattice_constant": 3.60, "bulk_modulus": 140.0},
             "source": "a test table"}
    spec = parse_system(cu_system(properties=["lattice", "eos"], reference=table))
    result = run_validation(spec, [EMT()], ["EMT"], None)
    by_name = {e.name: e for e in result.entries}
    a = by_name["lattice_constant"]
    assert a.reference == 3.60 and a.source == "a test table"
    assert a.relative_error == pytest.approx((a.model - 3.60) / 3.60, rel=1e-12)
    assert by_name["bulk_modulus_derivative"].reference is None
    assert by_name["bulk_modulus_derivative"].error is None
