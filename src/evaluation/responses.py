"""An imported campaign-response extract (CRM / call-centre export), read through a mapping.

The mapping has the reading keys of a transaction mapping (``files``, ``format``,
``encoding``, ``delimiter``, ``header``, ``date_format``, ``thousands``, ``decimal``; see
:mod:`ingest.mapping`) plus::

    columns: {customer_id: 客户号, campaign: 活动编号, group: 组别, contact_date: 接触日期}
    groups: {control: [对照组], sms: [短信组], call: [电话组]}   # arm -> values in the file
    outcomes:                                                   # one or more
      responded: {column: 是否响应, kind: rate, "yes": [是, "1"]}   # 0/1; other values are 0
      revenue: {column: 贡献收入, kind: money}                     # a number; blank is 0

The arm named ``control`` is the control group; every other arm is a treatment. The file is
read with :func:`ingest.read.read_extract` and parsed with the SQL helpers of
:mod:`ingest.sql`; unusable rows (wrong field count, blank customer id, bad date, bad
number) go to rejects with file, line, raw text and reason. Errors that would make every
figure wrong stop the run with one line: a group value that no arm lists, a contact date
after ``as_of``, a campaign without a control group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from ingest import sql
from ingest.mapping import load_mapping
from ingest.read import attach_raw, drop_extract, read_extract
from kequn.errors import UserError
from kequn.sql_text import identifier

#: mapping keys this module adds to the reading keys of :mod:`ingest.mapping`
RESPONSE_KEYS = ("groups", "outcomes")
ROLES = ("customer_id", "campaign", "group", "contact_date")
KINDS = ("rate", "money")
#: role name of the group column inside SQL (``group`` is a keyword)
GROUP_ROLE = "arm_value"
CONTROL = "control"


@dataclasses.dataclass(frozen=True)
class ResponseMapping:
    """A validated response mapping: the reading mapping plus arms and outcomes."""

    reading: Any  # ingest.mapping.Mapping
    arms: dict[str, str]  # value in the file -> arm
    outcomes: dict[str, tuple[str, tuple[str, ...]]]  # name -> (kind, "yes" values)


def _fail(path: Path, key: str, problem: str) -> UserError:
    return UserError(f"{path}: key '{key}': {problem}")


def _arms(path: Path, groups: Any) -> dict[str, str]:
    if not isinstance(groups, dict) or CONTROL not in groups or len(groups) < 2:
        raise _fail(path, "groups", "expected {control: [...], <treatment arm>: [...], ...}")
    arms: dict[str, str] = {}
    for arm, values in groups.items():
        values = values if isinstance(values, list) else [values]
        for value in values:
            text = str(value).strip()
            if text in arms:
                raise _fail(path, f"groups.{arm}", f"value {text!r} is also in {arms[text]}")
            arms[text] = str(arm)
    return arms


def _outcomes(path: Path, outcomes: Any, header: bool) -> tuple[dict, dict]:
    if not isinstance(outcomes, dict) or not outcomes:
        raise _fail(path, "outcomes", "expected at least one {name: {column, kind}}")
    parsed, columns = {}, {}
    for name, spec in outcomes.items():
        if not isinstance(spec, dict) or "column" not in spec or spec.get("kind") not in KINDS:
            raise _fail(path, f"outcomes.{name}", "expected {column: ..., kind: rate | money}")
        yes = spec.get("yes", ["1", "是", "Y", "y", "yes", "true", "True"])
        yes = tuple(str(v).strip() for v in (yes if isinstance(yes, list) else [yes]))
        parsed[str(name)] = (spec["kind"], yes)
        columns[f"outcome_{len(columns)}"] = spec["column"]
    return parsed, columns


def load_response_mapping(path: str | Path) -> ResponseMapping:
    """Read and validate a response mapping file (module docstring); errors name the key.

    Parameters
    ----------
    path : str or Path
        The YAML mapping.

    Returns
    -------
    ResponseMapping
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: response mapping not found (evaluation.responses)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("columns"), dict):
        raise _fail(path, "columns", "required mapping of role -> column is missing")
    columns = dict(raw["columns"])
    for role in ROLES:
        if role not in columns:
            raise _fail(path, f"columns.{role}", "required column is not mapped")
    unknown = set(columns) - set(ROLES)
    if unknown:
        raise _fail(path, f"columns.{sorted(unknown)[0]}", f"unknown role; expected {ROLES}")
    header = raw.get("header", True)
    arms = _arms(path, raw.get("groups"))
    outcomes, outcome_columns = _outcomes(path, raw.get("outcomes"), header)
    # the reading keys are checked by ingest's own loader (a client-master mapping of the
    # customer id column), then the remaining roles are added
    reading_raw = {k: v for k, v in raw.items() if k not in RESPONSE_KEYS}
    reading_raw["columns"] = {"customer_id": columns["customer_id"]}
    with tempfile.TemporaryDirectory(prefix="kequn-responses-") as tmp:
        probe = Path(tmp) / path.name
        probe.write_text(yaml.safe_dump(reading_raw, allow_unicode=True), encoding="utf-8")
        try:
            reading = load_mapping(probe, kind="clients")
        except UserError as exc:
            raise UserError(str(exc).replace(str(probe), str(path))) from None
    refs = {
        "customer_id": reading.columns["customer_id"],
        "campaign": columns["campaign"],
        GROUP_ROLE: columns["group"],
        "contact_date": columns["contact_date"],
        **outcome_columns,
    }
    for role, ref in refs.items():
        if not (isinstance(ref, str) and ref.strip()) and not isinstance(ref, int):
            raise _fail(path, f"columns.{role}", f"expected a column, got {ref!r}")
    reading = dataclasses.replace(reading, path=str(path), columns=refs)
    return ResponseMapping(reading, arms, outcomes)


def _cleaning_sql(mapping: ResponseMapping) -> str:
    m = mapping.reading
    date = sql.parse_date("contact_date", m.date_format)
    outcome_sql, bad = [], []
    for i, (name, (kind, yes)) in enumerate(mapping.outcomes.items()):
        role = f"outcome_{i}"
        text = sql.unquote(role)
        if kind == "rate":
            expr = f"CASE WHEN trim({text}) IN ({sql.literal_list(yes)}) THEN 1.0 ELSE 0.0 END"
        else:
            number = sql.parse_number(text, m.thousands, m.decimal)
            blank = f"{sql.blank_to_null(text)} IS NULL"
            expr = f"CASE WHEN {blank} THEN 0.0 ELSE {number} END"
            bad.append(f"({expr}) IS NULL")
        outcome_sql.append(f"{expr} AS {identifier(name)}")
    bad_outcome = " OR ".join(bad) if bad else "FALSE"
    return f"""
WITH parsed AS (
    SELECT file_id, line, raw, {sql.structure_reason()} AS structure_reason,
           {sql.blank_to_null(sql.unquote("customer_id"))} AS customer_id,
           {sql.blank_to_null(sql.unquote("campaign"))} AS campaign,
           trim({sql.unquote(GROUP_ROLE)}) AS group_value,
           {date} AS contact_date, {", ".join(outcome_sql)},
           {bad_outcome} AS bad_outcome
    FROM responses_extract
)
SELECT *, CASE
    WHEN structure_reason IS NOT NULL THEN structure_reason
    WHEN customer_id IS NULL THEN 'blank_customer_id'
    WHEN campaign IS NULL THEN 'blank_campaign'
    WHEN contact_date IS NULL THEN 'bad_date'
    WHEN bad_outcome THEN 'bad_amount'
END AS reason
FROM parsed
"""


def _check(frame: pd.DataFrame, mapping: ResponseMapping, as_of: dt.date) -> None:
    """The one-line errors: unknown group value, contact after as_of, campaign w/o control."""
    path = mapping.reading.path
    unknown = ~frame["group_value"].isin(list(mapping.arms))
    if unknown.any():
        row = frame[unknown].iloc[0]
        raise UserError(
            f"{row['source_file']}:{row['line']}: group value {row['group_value']!r} is not "
            f"listed under any arm in {path} (groups: {sorted(set(mapping.arms.values()))})"
        )
    late = frame["contact_date"] > pd.Timestamp(as_of)
    if late.any():
        row = frame[late].iloc[0]
        raise UserError(
            f"{row['source_file']}:{row['line']}: contact date {row['contact_date'].date()} "
            f"is after as_of {as_of}"
        )
    has_control = frame.groupby("campaign")["arm"].agg(lambda arms: (arms == CONTROL).any())
    if not has_control.all():
        name = has_control[~has_control].index[0]
        raise UserError(f"{path}: campaign {name!r} has no control group; it cannot be evaluated")


def read_responses(mapping: ResponseMapping, as_of: dt.date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the response extract: (accepted rows, rejects).

    Parameters
    ----------
    mapping : ResponseMapping
        From :func:`load_response_mapping`.
    as_of : date
        The scoring date; a contact after it is an error.

    Returns
    -------
    (responses, rejects) : tuple of DataFrame
        ``customer_id, campaign, arm, contact_date`` and one column per outcome (0/1 for a
        rate, a number for money), sorted by campaign, arm, customer; rejects have
        ``source_file, line, reason, raw``. Accepted + rejected = rows read.
    """
    con = duckdb.connect()
    roles = ("customer_id", "campaign", GROUP_ROLE, "contact_date") + tuple(
        f"outcome_{i}" for i in range(len(mapping.outcomes))
    )
    read_extract(mapping.reading, con, roles, name="responses_extract")
    con.execute(f"CREATE TEMP TABLE responses_cleaned AS {_cleaning_sql(mapping)}")
    drop_extract(con, "responses_extract")
    attach_raw(con, "responses_cleaned", "responses_extract")
    rejects = con.sql(
        sql.rejects_sql("responses_cleaned", "responses_extract_files", "responses_cleaned_raw")
    ).df()
    names = ", ".join(identifier(n) for n in mapping.outcomes)
    frame = con.sql(
        f"SELECT f.source_file, c.line, customer_id, campaign, group_value, contact_date, "
        f"{names} FROM responses_cleaned AS c JOIN responses_extract_files AS f "
        f"USING (file_id) WHERE reason IS NULL ORDER BY c.file_id, c.line"
    ).df()
    frame["contact_date"] = pd.to_datetime(frame["contact_date"])
    frame["arm"] = frame["group_value"].map(mapping.arms)
    _check(frame, mapping, as_of)
    out = frame[["customer_id", "campaign", "arm", "contact_date", *mapping.outcomes]]
    out = out.sort_values(["campaign", "arm", "customer_id"], kind="stable")
    return out.reset_index(drop=True), rejects
