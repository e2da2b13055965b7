"""What keeps target lists safe to use: do-not-contact suppression and formula-proof cells."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kequn.errors import UserError

#: a spreadsheet treats a cell starting with one of these as a formula (CSV injection)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix every text cell that a spreadsheet would run as a formula with a single quote.

    Numbers stay numbers (a negative number is not a formula); only text columns change.
    """
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            text = out[column].astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False)
            out[column] = text.where(~risky, "'" + text).astype(object)
    return out


def unmatched_ids(ids, known, n_examples: int = 5) -> tuple[int, list[str]]:
    """Do-not-contact ids that match no client: how many, and the first few (sorted).

    Such ids usually were mangled before they arrived (Excel turned ``100340082`` into
    ``1.00340082E+08`` or dropped leading zeros); they suppress nobody, so they are
    reported instead of ignored.

    Parameters
    ----------
    ids : iterable of str
        The do-not-contact ids.
    known : iterable of str
        Every client's ``customer_id``.
    n_examples : int
        How many examples to return.

    Returns
    -------
    (int, list of str)
        The number of unmatched ids and up to ``n_examples`` of them.
    """
    missing = sorted(set(ids) - set(known))
    return len(missing), missing[:n_examples]


def read_id_list(path: str | Path) -> set[str]:
    """Customer ids from the first column of a CSV (header expected), as stripped strings.

    UTF-8 (with or without BOM) first, GB18030 as the fallback for Chinese exports.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: do-not-contact file not found (targeting.do_not_contact)")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(
                path, dtype=str, encoding=encoding, usecols=[0], keep_default_na=False
            )
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UserError(f"{path}: neither UTF-8 nor GB18030; save it as UTF-8 CSV")
    ids = frame.iloc[:, 0].str.strip()
    return set(ids[ids != ""])
