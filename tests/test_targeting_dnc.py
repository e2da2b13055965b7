"""Do-not-contact ids that match no client are counted and shown, not silently ignored."""

from __future__ import annotations

from targeting.safety import read_id_list, unmatched_ids


def test_spreadsheet_mangled_ids_are_reported(tmp_path):
    path = tmp_path / "dnc.csv"
    path.write_text(
        "customer_id\n0100340082\n1.00340082E+08\n100340082\nC0007\n C0008 \n", encoding="utf-8"
    )
    ids = read_id_list(path)
    known = ["0100340082", "C0007", "C0008", "C0009"]
    count, examples = unmatched_ids(ids, known)
    assert (count, examples) == (2, ["1.00340082E+08", "100340082"])
    assert unmatched_ids(ids, known, n_examples=1) == (2, ["1.00340082E+08"])
    assert unmatched_ids(["C0007"], known) == (0, [])
