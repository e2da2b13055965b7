"""The settings schema: strict, typed, one line per problem; dvc.yaml declares what stages read."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, run_stage
from kequn.errors import UserError
from kequn.settings import STAGE_SECTIONS, Settings, dvc_param_covers, settings_from


def project_params() -> dict:
    return yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))


def with_change(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error_of(params: dict) -> str:
    with pytest.raises(UserError) as info:
        settings_from(params)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_project_params_are_valid_and_typed():
    s = settings_from(project_params())
    assert isinstance(s, Settings)
    assert s.as_of is None
    assert s.churn.horizon_days == 90 and isinstance(s.churn.horizon_days, int)
    assert s.ltv.interval == (0.1, 0.9)
    assert s.segmentation.tier_shares.strategic == 0.5
    assert s.targeting.campaigns["winback"].lapsed_days == 180
    assert s.targeting.campaigns["retention"].budget is None
    assert s.targeting.priority == ("vip_care", "retention", "winback", "growth")


def test_settings_are_frozen():
    s = settings_from({})
    with pytest.raises(AttributeError):
        s.churn.horizon_days = 30  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.segmentation.product_lines["x"] = "fee"  # type: ignore[index]


@pytest.mark.parametrize(
    ("section", "typo", "expected"),
    [
        (
            "churn",
            "horizn_days",
            "churn.horizn_days: unknown key; did you mean churn.horizon_days?",
        ),
        (None, "as_off", "as_off: unknown key; did you mean as_of?"),
        (
            "ltv",
            "horizon_month",
            "ltv.horizon_month: unknown key; did you mean ltv.horizon_months?",
        ),
    ],
)
def test_typos_name_the_closest_key(section, typo, expected):
    params = project_params()
    where = params if section is None else params[section]
    where[typo] = 30
    assert error_of(params) == f"params.yaml: {expected}"


def test_unknown_campaign_and_nested_key():
    params = project_params()
    params["targeting"]["campaigns"]["retension"] = {"capacity": 10}
    assert (
        "targeting.campaigns.retension: unknown key; did you mean targeting.campaigns.retention?"
        in error_of(params)
    )  # noqa: E501
    params = project_params()
    params["churn"]["thresholds"]["rd"] = 0.8
    assert error_of(params).endswith(
        "churn.thresholds.rd: unknown key; did you mean churn.thresholds.red?"
    )  # noqa: E501


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("churn", "horizon_days"), 45.7, "churn.horizon_days: 45.7 must be a whole number"),
        (("churn", "horizon_days"), "90", "churn.horizon_days: '90' (str) must be a whole number"),
        (("churn", "horizon_days"), 0, "churn.horizon_days: 0 is out of range: must be >= 1"),
        (
            ("churn", "value_weighted"),
            "yes",
            "churn.value_weighted: 'yes' (str) must be true or false",
        ),  # noqa: E501
        (
            ("churn", "model"),
            "gmb",
            "churn.model: 'gmb' must be one of auto | btyd | btyd_expected | survival | gbm "
            "| blend | stack; did you mean gbm?",
        ),  # noqa: E501
        (("ltv", "interval"), [0.9, 0.1], "ltv.interval: must be [low, high] with low < high"),
        (("ltv", "interval"), [0.1, 1.5], "ltv.interval[1]: 1.5 is out of range: must be < 1"),
        (("ltv", "margin"), {"deposit": -0.1}, "ltv.margin.deposit: -0.1 is out of range"),
        (("segmentation", "k_range"), [8, 4], "segmentation.k_range: must be [low, high]"),
        (("targeting", "control_share"), 1.0, "targeting.control_share: 1.0 is out of range"),
        (
            ("scale", "chunk_customers"),
            True,
            "scale.chunk_customers: True (bool) must be a whole number",
        ),  # noqa: E501
        (("as_of",), "2024-13-01", "as_of: '2024-13-01' is not a date in YYYY-MM-DD form"),
    ],
)
def test_wrong_types_and_ranges(path, value, fragment):
    params = project_params()
    where = params
    for part in path[:-1]:
        where = where[part]
    where[path[-1]] = value
    message = error_of(params)
    assert message.startswith("params.yaml: ")
    assert fragment in message


def test_cross_field_rules():
    params = project_params()
    params["churn"]["thresholds"] = {"red": 0.3, "orange": 0.5, "yellow": 0.7}
    assert "churn.thresholds: must satisfy yellow <= orange <= red" in error_of(params)
    params = project_params()
    params["segmentation"]["tier_shares"] = {"strategic": 0.8, "value": 0.3}
    assert "segmentation.tier_shares: strategic + value must be at most 1" in error_of(params)


def test_values_and_defaults():
    s = settings_from({"as_of": dt.date(2024, 1, 31), "ltv": {"margin": {"loan": 0.03, "fee": 1}}})
    assert s.as_of == dt.date(2024, 1, 31)
    assert dict(s.ltv.margin) == {"loan": 0.03, "fee": 1.0}
    assert s.churn.horizon_days == 90 and s.report.language == "en"
    assert settings_from({"as_of": "2024-01-31"}).as_of == dt.date(2024, 1, 31)
    assert settings_from({"ltv": {"margin": 0}}).ltv.margin == 0.0


def dvc_stages() -> dict:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def test_every_stage_declares_the_params_it_reads():
    stages = dvc_stages()
    assert set(stages) == set(STAGE_SECTIONS)
    for stage, needs in STAGE_SECTIONS.items():
        declared = [str(p) for p in stages[stage].get("params", [])]
        missing = [n for n in needs if not dvc_param_covers(declared, n)]
        assert not missing, f"dvc.yaml stage {stage} reads {missing} without declaring them"


def test_declared_sections_exist_in_the_schema():
    s = settings_from({})
    for needs in STAGE_SECTIONS.values():
        for name in needs:
            value = s
            for part in name.split("."):
                value = getattr(value, part)


def test_dvc_param_covers():
    assert dvc_param_covers(["ltv"], "ltv.margin")
    assert dvc_param_covers(["ltv.margin"], "ltv.margin")
    assert not dvc_param_covers(["ltv.horizon_months"], "ltv.margin")
    assert not dvc_param_covers(["lt"], "ltv")


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (
            "  horizon_days: 90 ",
            "  horizn_days: 90 ",
            "churn.horizn_days: unknown key; did you mean churn.horizon_days?",
        ),  # noqa: E501
        ('as_of: ""', 'as_off: ""', "as_off: unknown key; did you mean as_of?"),
        (
            "  horizon_months: 12 ",
            "  horizon_month: 12 ",
            "ltv.horizon_month: unknown key; did you mean ltv.horizon_months?",
        ),  # noqa: E501
    ],
)
def test_command_line_exits_with_one_line(tmp_path: Path, old, new, line):
    text = (REPO_ROOT / "params.yaml").read_text(encoding="utf-8")
    (tmp_path / "params.yaml").write_text(with_change(text, old, new), encoding="utf-8")
    done = run_stage("features", tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == f"kequn features: error: params.yaml: {line}"
    assert not re.search(r"Traceback", done.stderr)
    assert not (tmp_path / "data").exists()
