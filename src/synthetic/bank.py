"""A deterministic synthetic core-banking extract with a known generative truth.

Analysts run the pipeline on the bundled sample in ``data/sample/`` (made by
``python -m synthetic --out data/sample``), and tests check that the models recover
the parameters that generated it (saved beside the data in ``true_params.json``). Every
draw comes from one seed through named :class:`numpy.random.SeedSequence` children, so
the same seed gives identical frames and byte-identical files. Everything is vectorised
over customers and rows: 1 million customers / 10.8 million rows (``--start 2025-06-01
--format parquet``) took 28 s of CPU and 3.9 GB of memory, Parquet written included.

Generative process, per customer ``i`` (time in weeks, days = floor(7 t)):

1. **Acquisition.** The first-transaction date ``d_i`` has density proportional to
   ``1 - c u`` on the period, ``u`` in [0, 1] the position in the period (``c = 0.6``:
   more clients early than late, every month gets new ones). The customer is observed
   for ``T_i = (end - d_i + 1 day) / 7`` weeks.
2. **Transactions: BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy
   way", Marketing Science 24(2)). ``lambda_i ~ Gamma(r, rate alpha)``; while alive,
   repeat transactions follow a Poisson process with rate ``lambda_i`` (exponential
   gaps); after each *repeat* transaction the customer drops out with probability
   ``p_i ~ Beta(a, b)``. So the number of repeat transactions before dropout is
   ``J_i ~ Geometric(p_i)`` on {1, 2, ...}, and with ``N_i ~ Poisson(lambda_i T_i)`` the
   observed repeat count is ``x_i = min(J_i, N_i)``; the times of those ``x_i``
   transactions are the first ``x_i`` of ``N_i`` uniform order statistics on
   ``(0, T_i)``, drawn as ``T_i S_j / (S_x + G)`` with ``S_j`` partial sums of
   standard exponentials and ``G ~ Gamma(N_i + 1 - x_i)`` (the rest of the sum). The
   customer is alive at the end iff ``J_i > N_i``. The expected count is eq. (9) of the
   paper, ``E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]``.
   Two events of one customer can fall on the same day (about ``lambda / 14`` of gaps);
   the BTYD convention merges them, so per-day counts are a hair below the truth.
3. **Extra same-day rows.** Each transaction day gets ``Poisson(same_day_extra_rate)``
   extra rows (another product or channel the same day); the day's spend is split over
   its rows by ``Dirichlet(1, ..., 1)`` weights, so the value per day is unchanged.
4. **Spend: Gamma-Gamma** (Fader & Hardie 2013, "The Gamma-Gamma model of monetary
   value"). ``nu_i ~ Gamma(q, rate gamma)``; each transaction day's spend
   ``z ~ Gamma(p, rate nu_i)`` in unscaled units, ``E[z] = p gamma / (q - 1)`` over
   customers. Amounts in CNY are ``scale[client_type] * z`` rounded to 0.01; scaling by
   ``c`` keeps ``p`` and ``q`` and multiplies ``gamma`` by ``c``, so each client type is an
   exact Gamma-Gamma population with ``gamma_scaled = c gamma`` (personal and corporate
   together are a mixture: fit the spend model per client type to recover it).
5. **Product** (存款/贷款/理财/中间业务) of each row from the customer's preference
   ``~ Dirichlet(concentration by client type)`` (small concentrations: most customers
   lean on one line, so product-preference types emerge).
6. **Channel** (柜面/手机银行/网上银行) from the customer's ``Dirichlet`` preference; a share
   of customers drift: from a change date (uniform in the customer's last months) the
   logit of 柜面 moves by ``+-m`` over ``drift_ramp_days`` (towards the counter or away).
7. **Status** 交易状态: every generated row is 正常; a share ``reversal_rate`` of them get a
   separate reversal row (冲正, same customer, date, product, channel and amount). The
   mapping's filter keeps only 正常, so the accepted rows are exactly the 正常 rows.
8. **Client master**: 客户号 (10-digit, leading zeros, increasing with acquisition),
   客户类型 (个人 / 对公), 行业, 地区, 开户日期 (on or before the first transaction),
   资产余额 (the customer's mean spend per day times a log-normal multiple), plus a few
   dormant clients who opened accounts before the period and never transact in it.
9. **Do-not-contact list**: a random subset of the client master.

:func:`add_dirty_rows` then adds *extra* unusable rows (the clean rows are never
changed), one fault each, with the reject reasons of ``docs/outputs.md``: ``bad_date``,
``blank_customer_id``, ``bad_amount``, ``duplicate_txn_id`` (an exact repeat of an earlier
row), ``date_after_extract`` and one ``truncated_row`` (the last line of the last file,
cut mid-row, no newline). :func:`write_bank_extract` writes the GB18030 monthly files.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import hyp2f1

from kequn import io as kio
from kequn.errors import UserError
from kequn.log import get_logger, timed
from synthetic.branches import assign_branches
from synthetic.campaigns import CampaignTruth, plant_campaign, write_campaign

PRODUCTS = ("存款", "贷款", "理财", "中间业务")
CHANNELS = ("柜面", "手机银行", "网上银行")
STATUS_NORMAL, STATUS_REVERSAL = "正常", "冲正"
CLIENT_TYPES = ("个人", "对公")
INDUSTRIES = (
    "制造业",
    "批发和零售业",
    "建筑业",
    "信息传输、软件和信息技术服务业",
    "金融业",
    "房地产业",
    "交通运输、仓储和邮政业",
    "住宿和餐饮业",
    "教育",
    "卫生和社会工作",
    "农、林、牧、渔业",
    "公共管理、社会保障和社会组织",
)
REGIONS = (
    "广东省深圳市",
    "广东省广州市",
    "浙江省杭州市",
    "江苏省南京市",
    "江苏省苏州市",
    "上海市",
    "北京市",
    "四川省成都市",
    "湖北省武汉市",
    "山东省青岛市",
    "福建省厦门市",
    "陕西省西安市",
)
REGION_WEIGHTS = (0.16, 0.12, 0.11, 0.08, 0.08, 0.12, 0.10, 0.06, 0.05, 0.05, 0.04, 0.03)

#: canonical columns of the clean transactions frame (``event`` is generator truth)
TRANSACTION_COLUMNS = ["txn_id", "customer_id", "date", "amount", "product", "channel", "status"]
#: bank-extract header (Chinese) for each canonical column, in file order
BANK_HEADER = {
    "txn_id": "流水号",
    "customer_id": "客户号",
    "date": "交易日期",
    "amount": "交易金额",
    "product": "产品类别",
    "channel": "渠道",
    "status": "交易状态",
}
CLIENT_HEADER = {
    "customer_id": "客户号",
    "client_type": "客户类型",
    "industry": "行业",
    "region": "地区",
    "open_date": "开户日期",
    "asset_balance": "资产余额",
    "branch": "网点号",
    "branch_name": "网点名称",
    "relationship_manager": "客户经理",
}
DIRTY_KINDS = (
    "bad_date",
    "blank_customer_id",
    "bad_amount",
    "duplicate_txn_id",
    "date_after_extract",
    "truncated_row",
)
#: share of the dirty rows of each kind (the truncated row is always exactly one)
DIRTY_SHARES = {
    "bad_date": 0.25,
    "blank_customer_id": 0.15,
    "bad_amount": 0.20,
    "duplicate_txn_id": 0.25,
    "date_after_extract": 0.15,
}
BAD_DATES = ("20240230", "20230229", "2024-13-45", "20241345", "", "00000000")
BAD_AMOUNTS = ("N/A", "12a.00", "#VALUE!", "--", "")
BLANK_IDS = ("", "   ")

_STREAMS = (
    "acquisition",
    "bgnbd",
    "same_day",
    "spend",
    "product",
    "channel",
    "reversal",
    "order",
    "clients",
    "do_not_contact",
)


@dataclasses.dataclass(frozen=True)
class TruthParams:
    """Generating parameters. BG/NBD in weeks; Gamma-Gamma in unscaled units."""

    r: float = 0.8
    alpha: float = 1.0
    a: float = 2.0
    b: float = 55.0
    p: float = 6.0
    q: float = 4.0
    gamma: float = 0.5
    #: CNY per unscaled spend unit, by client type
    scale: tuple[tuple[str, float], ...] = (("个人", 2000.0), ("对公", 50000.0))
    corporate_share: float = 0.10
    acquisition_slope: float = 0.6
    same_day_extra_rate: float = 0.06
    reversal_rate: float = 0.01
    #: Dirichlet concentration over PRODUCTS, by client type
    product_concentration: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("个人", (1.0, 0.3, 0.6, 0.4)),
        ("对公", (0.6, 0.8, 0.2, 0.8)),
    )
    #: Dirichlet concentration over CHANNELS, by client type
    channel_concentration: tuple[tuple[str, tuple[float, ...]], ...] = (
        ("个人", (0.8, 1.5, 0.5)),
        ("对公", (1.0, 0.6, 1.2)),
    )
    drift_share: float = 0.25
    drift_towards_counter_share: float = 0.4
    drift_logit: tuple[float, float] = (2.5, 4.5)
    drift_ramp_days: int = 60
    drift_window_days: int = 540
    dormant_share: float = 0.03
    do_not_contact_share: float = 0.015


@dataclasses.dataclass
class SyntheticExtract:
    """A generated extract: clean rows, client master, per-customer truth, parameters.

    ``transactions``: one row per clean transaction row in file order (date, txn_id),
    columns :data:`TRANSACTION_COLUMNS` plus ``event`` (0 = first transaction, k = k-th
    repeat transaction; extra same-day rows and reversals share their day's event).
    ``customers``: per-customer latent truth (lambda, p, nu, T, x, alive, ...).
    ``dirty``: extra unusable rows as raw strings (after :func:`add_dirty_rows`).
    """

    transactions: pd.DataFrame
    clients: pd.DataFrame
    customers: pd.DataFrame
    do_not_contact: pd.Series
    params: dict[str, Any]
    dirty: pd.DataFrame | None = None


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {name: np.random.default_rng(s) for name, s in zip(_STREAMS, children, strict=True)}


def _strings(values: Any) -> pd.Series:
    """A pyarrow-backed string Series (compact for millions of rows)."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return pd.Series(pd.arrays.ArrowStringArray(array.cast(pa.string())))


def _take(labels: tuple[str, ...] | np.ndarray, codes: np.ndarray) -> pd.Series:
    return _strings(pa.array(list(labels), pa.string()).take(pa.array(codes)))


def yyyymmdd(days: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` (or days since 1970-01-01) -> integers YYYYMMDD."""
    d = np.asarray(days).astype("datetime64[D]")
    months = d.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year * 10000 + month * 100 + day


def _categorical(rng: np.random.Generator, probs: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """One draw per row from the row owner's probability vector (rows of ``probs``)."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(owner.size)
    codes = np.zeros(owner.size, dtype=np.int8)
    for k in range(probs.shape[1] - 1):
        codes += u > cumulative[owner, k]
    return codes


def _dirichlet_by_type(
    rng: np.random.Generator, conc: dict[str, tuple[float, ...]], is_corporate: np.ndarray
) -> np.ndarray:
    personal = rng.dirichlet(conc["个人"], size=is_corporate.size)
    corporate = rng.dirichlet(conc["对公"], size=is_corporate.size)
    probs = np.where(is_corporate[:, None], corporate, personal)
    probs = np.clip(probs, 1e-12, None)
    return probs / probs.sum(axis=1, keepdims=True)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    return np.cumsum(counts) - counts


def expected_repeat_transactions(t: Any, r: float, alpha: float, a: float, b: float) -> Any:
    """BG/NBD E[X(t)], Fader, Hardie & Lee (2005) eq. (9)."""
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


def generate(
    n_customers: int = 20_000,
    start: str | dt.date = "2023-01-01",
    end: str | dt.date = "2025-12-31",
    seed: int = 20261123,
    truth: TruthParams | None = None,
) -> SyntheticExtract:
    """Generate the clean extract (see the module docstring for the process).

    Parameters
    ----------
    n_customers : int
        Customers with at least one transaction (dormant clients come on top).
    start, end : str or datetime.date
        The first and last day of the period (inclusive).
    seed : int
        The root of every random stream: the same seed gives the same extract.
    truth : TruthParams, optional
        The generating parameters (default :class:`TruthParams`).

    Returns
    -------
    SyntheticExtract
        The clean rows, the client master, the per-customer truth, the do-not-contact
        list and the parameter record.
    """
    truth = truth or TruthParams()
    start_d = np.datetime64(str(start), "D")
    end_d = np.datetime64(str(end), "D")
    if end_d < start_d:
        raise UserError(f"synthetic: end {end} is before start {start}")
    if n_customers < 1:
        raise UserError(f"synthetic: --customers must be at least 1, got {n_customers}")
    rng = _rngs(seed)
    n = int(n_customers)
    period_days = int((end_d - start_d).astype(int)) + 1

    first_offset = _acquisition(rng["acquisition"], truth.acquisition_slope, n, period_days)
    observed_days = period_days - first_offset
    latent = _bgnbd(rng["bgnbd"], truth, observed_days)
    ev_owner, ev_day, ev_index = _events(n, latent)

    # 4. spend per event (unscaled z, then CNY by client type)
    is_corporate = rng["clients"].random(n) < truth.corporate_share
    scale_by_type = dict(truth.scale)
    scale = np.where(is_corporate, scale_by_type["对公"], scale_by_type["个人"])
    s = rng["spend"]
    nu = s.gamma(truth.q, 1.0 / truth.gamma, size=n)
    day_value = s.gamma(truth.p, 1.0 / nu[ev_owner]) * scale[ev_owner]

    row_event, amount = _split_days(rng["same_day"], truth.same_day_extra_rate, day_value)
    owner = ev_owner[row_event]
    day = first_offset[owner] + ev_day[row_event]
    # 5. products, 6. channels (with drift)
    conc_p = dict(truth.product_concentration)
    product_pref = _dirichlet_by_type(rng["product"], conc_p, is_corporate)
    product = _categorical(rng["product"], product_pref, owner)
    channel, drift = _channels(
        rng["channel"], truth, is_corporate, first_offset, period_days, owner, day
    )
    rows = {"owner": owner, "day": day, "amount": amount, "product": product}
    rows.update(channel=channel, event=ev_index[row_event])
    rows = _file_order(rng, truth.reversal_rate, rows)

    # customer ids: 10 digits, leading zeros, increasing with acquisition, random gaps
    id_int = 100_000_000 + np.cumsum(rng["clients"].integers(1, 40, size=n))
    ids = pc.utf8_lpad(pa.array(id_int).cast(pa.string()), 10, "0")
    transactions = _transactions_frame(rows, ids, start_d, period_days)
    first_date = start_d + first_offset
    customers = pd.DataFrame(
        {
            "customer_id": _strings(ids),
            "client_type": _take(CLIENT_TYPES, is_corporate.astype(np.int8)),
            "first_date": first_date.astype("datetime64[ns]"),
            "T_weeks": observed_days / 7.0,
            **latent.truth(),
            "nu": nu,
            "spend_scale": scale,
            "mean_spend": truth.p / nu * scale,
            "channel_drift": drift,
        }
    )
    clients, dnc = _client_master(rng, truth, customers, first_date, start_d)
    clients = clients.join(assign_branches(clients["customer_id"], seed))
    params = _truth_record(truth, seed, start_d, end_d, transactions, customers, clients, dnc)
    return SyntheticExtract(transactions, clients, customers, dnc, params)


def _acquisition(rng: np.random.Generator, c: float, n: int, period_days: int) -> np.ndarray:
    """1. First-transaction day offsets, sorted (ids increase with them): density
    ``1 - c u`` on [0, 1] by its inverse CDF ``u = (1 - sqrt(1 - 2 c y)) / c``,
    ``y ~ U(0, 1 - c / 2)``."""
    y = rng.random(n) * (1 - c / 2)
    u = (1 - np.sqrt(1 - 2 * c * y)) / c if c > 0 else y
    return np.sort(np.minimum((u * period_days).astype(np.int64), period_days - 1))


@dataclasses.dataclass
class _Latent:
    """The BG/NBD draws per customer, and each repeat transaction's owner, day offset
    (from the first transaction) and index (1 = first repeat)."""

    lam: np.ndarray
    p_drop: np.ndarray
    x: np.ndarray
    alive: np.ndarray
    t_x: np.ndarray
    owner_rep: np.ndarray
    day_rep: np.ndarray
    event_rep: np.ndarray

    def truth(self) -> dict[str, np.ndarray]:
        """The per-customer truth columns."""
        return {
            "lambda": self.lam,
            "p_dropout": self.p_drop,
            "x": self.x,
            "t_x_weeks": self.t_x,
            "alive": self.alive,
        }


def _bgnbd(g: np.random.Generator, truth: TruthParams, observed_days: np.ndarray) -> _Latent:
    """2. BG/NBD: ``x = min(J, N)`` repeats, ``J ~ Geometric(p)``, ``N ~ Poisson(lambda T)``,
    their times the first ``x`` of ``N`` uniform order statistics on ``(0, T)``, drawn as
    ``T S_j / (S_x + G)``, ``G ~ Gamma(N + 1 - x)`` (Fader, Hardie & Lee 2005)."""
    n = observed_days.size
    big_t = observed_days / 7.0
    lam = g.gamma(truth.r, 1.0 / truth.alpha, size=n)
    p_drop = g.beta(truth.a, truth.b, size=n)
    n_poisson = g.poisson(lam * big_t)
    j_dropout = g.geometric(p_drop)
    x = np.minimum(n_poisson, j_dropout)
    owner_rep = np.repeat(np.arange(n), x)
    gaps = g.exponential(size=owner_rep.size)
    starts = _group_starts(x)
    running = np.cumsum(gaps)
    before = np.concatenate([[0.0], running])[starts]
    partial = running - before[owner_rep]
    last = np.where(x > 0, np.concatenate([[0.0], running])[starts + x] - before, 0.0)
    rest = g.gamma(np.maximum(n_poisson + 1 - x, 1).astype(float))
    t_rep = big_t[owner_rep] * partial / (last[owner_rep] + rest[owner_rep])
    day_rep = np.minimum(np.floor(t_rep * 7).astype(np.int64), observed_days[owner_rep] - 1)
    event_rep = (np.arange(owner_rep.size) - starts[owner_rep] + 1).astype(np.int32)
    t_x = np.zeros(n)
    t_x[x > 0] = t_rep[starts[x > 0] + x[x > 0] - 1]
    return _Latent(lam, p_drop, x, j_dropout > n_poisson, t_x, owner_rep, day_rep, event_rep)


def _events(n: int, latent: _Latent) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Transaction days in continuous time, first + repeats, ordered per customer: (owner,
    day offset from the first transaction, event index)."""
    ev_owner = np.concatenate([np.arange(n), latent.owner_rep])
    ev_day = np.concatenate([np.zeros(n, dtype=np.int64), latent.day_rep])
    ev_index = np.concatenate([np.zeros(n, dtype=np.int32), latent.event_rep])
    order = np.lexsort((ev_index, ev_owner))
    return ev_owner[order], ev_day[order], ev_index[order]


def _split_days(
    rng: np.random.Generator, rate: float, day_value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """3. ``Poisson(rate)`` extra rows per day, the day's value split by Dirichlet(1..1)
    weights (normalised exponentials): (each row's day, its amount rounded to 0.01)."""
    extra = rng.poisson(rate, size=day_value.size)
    row_event = np.repeat(np.arange(day_value.size), 1 + extra)
    weights = rng.exponential(size=row_event.size)
    weights /= np.bincount(row_event, weights=weights)[row_event]
    return row_event, np.maximum(np.round(day_value[row_event] * weights, 2), 0.01)


def _channels(
    ch: np.random.Generator,
    truth: TruthParams,
    is_corporate: np.ndarray,
    first_offset: np.ndarray,
    period_days: int,
    owner: np.ndarray,
    day: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """6. Each row's channel code, and each customer's drift label (``to_counter``,
    ``away`` or ""). A drifting customer's logit of 柜面 moves by ``m * ramp`` from the
    change day: ``P(柜面) = w0 e^s / (w0 e^s + 1 - w0)``, and the other two channels keep
    their ratio (1-D per row, no rows x channels matrix)."""
    n = is_corporate.size
    channel_pref = _dirichlet_by_type(ch, dict(truth.channel_concentration), is_corporate)
    drifts = ch.random(n) < truth.drift_share
    direction = np.where(ch.random(n) < truth.drift_towards_counter_share, 1.0, -1.0)
    magnitude = ch.uniform(*truth.drift_logit, size=n) * direction * drifts
    window_start = np.maximum(first_offset, period_days - truth.drift_window_days)
    change_day = window_start + ch.random(n) * (period_days - 30 - window_start).clip(1)
    change_day = np.where(drifts, change_day, np.inf)
    ramp = np.clip((day - change_day[owner]) / truth.drift_ramp_days, 0.0, 1.0)
    boost = channel_pref[owner, 0] * np.exp(magnitude[owner] * ramp)
    p_counter = boost / (boost + 1.0 - channel_pref[owner, 0])
    p_mobile = channel_pref[:, 1] / (channel_pref[:, 1] + channel_pref[:, 2])
    u = ch.random(owner.size)
    with np.errstate(divide="ignore", invalid="ignore"):  # p_counter == 1: u < p_counter
        rest_u = (u - p_counter) / (1.0 - p_counter)
    channel = np.where(u < p_counter, 0, np.where(rest_u < p_mobile[owner], 1, 2)).astype(np.int8)
    drift = np.where(drifts, np.where(direction > 0, "to_counter", "away"), "")
    return channel, drift


def _file_order(
    rng: dict[str, np.random.Generator], reversal_rate: float, rows: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """7. A share ``reversal_rate`` of rows get a copy with status 1 (冲正); then every
    per-row array in file order: by date, a random order within the day."""
    n_rows = rows["owner"].size
    rev = np.flatnonzero(rng["reversal"].random(n_rows) < reversal_rate)
    index = np.concatenate([np.arange(n_rows), rev])
    rows = {name: values[index] for name, values in rows.items()}
    rows["status"] = np.concatenate([np.zeros(n_rows, np.int8), np.ones(rev.size, np.int8)])
    key = rng["order"].random(index.size)
    order = np.lexsort((key, rows["day"]))
    return {name: values[order] for name, values in rows.items()}


def _transactions_frame(
    rows: dict[str, np.ndarray], ids: pa.Array, start_d: np.datetime64, period_days: int
) -> pd.DataFrame:
    """The clean rows in file order, with serial numbers within the day in ``txn_id``
    (YYYYMMDD followed by 8 digits)."""
    day = rows["day"]
    per_day = np.bincount(day, minlength=period_days)
    serial = np.arange(day.size) - _group_starts(per_day)[day] + 1
    dates = start_d + day
    txn_int = yyyymmdd(dates) * 100_000_000 + serial
    return pd.DataFrame(
        {
            "txn_id": _strings(pa.array(txn_int)),
            "customer_id": _strings(ids.take(pa.array(rows["owner"]))),
            "date": dates.astype("datetime64[ns]"),
            "amount": rows["amount"],
            "product": _take(PRODUCTS, rows["product"]),
            "channel": _take(CHANNELS, rows["channel"]),
            "status": _take((STATUS_NORMAL, STATUS_REVERSAL), rows["status"]),
            "event": rows["event"],
        }
    )


def _client_master(
    rng: dict[str, np.random.Generator],
    truth: TruthParams,
    customers: pd.DataFrame,
    first_date: np.ndarray,
    start_d: np.datetime64,
) -> tuple[pd.DataFrame, pd.Series]:
    """Client master (with dormant clients) and the do-not-contact list."""
    g = rng["clients"]
    n = len(customers)
    n_dormant = round(truth.dormant_share * n)
    is_corporate = (customers["client_type"] == "对公").to_numpy()
    # open date: the first transaction day for 35%, else an exponential lag (mean 3 years)
    lag = np.where(g.random(n) < 0.35, 0, g.exponential(3 * 365, size=n)).astype(np.int64)
    open_date = np.maximum(first_date - lag, np.datetime64("2000-01-01"))
    mult = np.exp(g.normal(np.where(is_corporate, np.log(6.0), np.log(8.0)), 1.0))
    balance = np.round(customers["mean_spend"].to_numpy() * mult, 2)

    last_id = int(customers["customer_id"].iloc[-1])
    dormant_ids = last_id + np.cumsum(g.integers(1, 40, size=n_dormant))
    dormant_corporate = g.random(n_dormant) < truth.corporate_share
    dormant_open = start_d - g.integers(30, 18 * 365, size=n_dormant)
    dormant_balance = np.round(np.exp(g.normal(np.log(500.0), 1.5, size=n_dormant)), 2)

    all_corporate = np.concatenate([is_corporate, dormant_corporate])
    size = all_corporate.size
    clients = pd.DataFrame(
        {
            "customer_id": pd.concat(
                [
                    customers["customer_id"],
                    _strings(pc.utf8_lpad(pa.array(dormant_ids).cast(pa.string()), 10, "0")),
                ],
                ignore_index=True,
            ),
            "client_type": _take(CLIENT_TYPES, all_corporate.astype(np.int8)),
            "industry": _take(INDUSTRIES, g.integers(0, len(INDUSTRIES), size=size)),
            "region": _take(REGIONS, g.choice(len(REGIONS), size=size, p=REGION_WEIGHTS)),
            "open_date": np.concatenate([open_date, dormant_open]).astype("datetime64[ns]"),
            "asset_balance": np.concatenate([balance, dormant_balance]),
        }
    )
    k = max(1, round(truth.do_not_contact_share * size))
    pick = np.sort(rng["do_not_contact"].choice(size, size=k, replace=False))
    dnc = clients["customer_id"].iloc[pick].reset_index(drop=True).rename("customer_id")
    return clients, dnc


def _count_in(values: pd.Series, pool: pd.Series) -> int:
    """How many of ``values`` are in ``pool`` (Arrow hashing; pandas' isin is slow here)."""
    return int(pc.sum(pc.is_in(pa.array(values), value_set=pa.array(pool))).as_py() or 0)


def _truth_record(
    truth: TruthParams,
    seed: int,
    start_d: np.datetime64,
    end_d: np.datetime64,
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    clients: pd.DataFrame,
    dnc: pd.Series,
) -> dict[str, Any]:
    scale = dict(truth.scale)
    status = transactions["status"]
    return {
        "seed": int(seed),
        "start": str(start_d),
        "end": str(end_d),
        "extract_date": str(end_d),
        "time_unit": "weeks (7 days); day = floor(7 t) after the first transaction",
        "transaction_model": {
            "model": "bgnbd",
            "reference": "Fader, Hardie & Lee (2005), Marketing Science 24(2) 275-284",
            "r": truth.r,
            "alpha": truth.alpha,
            "a": truth.a,
            "b": truth.b,
        },
        "spend_model": {
            "model": "gamma_gamma",
            "reference": "Fader & Hardie (2013), The Gamma-Gamma model of monetary value",
            "unit": "value per transaction day (same-day rows summed)",
            "unscaled": {"p": truth.p, "q": truth.q, "gamma": truth.gamma},
            "scale_cny_per_unit": scale,
            "scaled_cny": {
                kind: {"p": truth.p, "q": truth.q, "gamma": truth.gamma * s}
                for kind, s in scale.items()
            },
            "note": "amount = scale[client_type] * z, rounded to 0.01 CNY; "
            "one Gamma-Gamma population per client type",
        },
        "acquisition": {"density": "proportional to 1 - c u", "c": truth.acquisition_slope},
        "same_day_extra_rate": truth.same_day_extra_rate,
        "reversal_rate": truth.reversal_rate,
        "corporate_share": truth.corporate_share,
        "product_concentration": {k: list(v) for k, v in truth.product_concentration},
        "channel_concentration": {k: list(v) for k, v in truth.channel_concentration},
        "channel_drift": {
            "share": truth.drift_share,
            "towards_counter_share": truth.drift_towards_counter_share,
            "logit_shift_range": list(truth.drift_logit),
            "ramp_days": truth.drift_ramp_days,
            "change_within_last_days": truth.drift_window_days,
        },
        "counts": {
            "customers": len(customers),
            "clients": len(clients),
            "dormant_clients": len(clients) - len(customers),
            "corporate_customers": int((customers["client_type"] == "对公").sum()),
            "transaction_events": int(len(customers) + customers["x"].sum()),
            "repeat_transactions": int(customers["x"].sum()),
            "alive_at_end": int(customers["alive"].sum()),
            "rows_clean": len(transactions),
            "rows_normal": int((status == STATUS_NORMAL).sum()),
            "rows_reversal": int((status == STATUS_REVERSAL).sum()),
            "do_not_contact": len(dnc),
            "do_not_contact_transacting": _count_in(dnc, customers["customer_id"]),
        },
    }


def add_dirty_rows(
    extract: SyntheticExtract, rate: float = 0.005, seed: int | None = None
) -> SyntheticExtract:
    """Add about ``rate * rows`` extra unusable rows, one fault each (module docstring).

    The clean rows are untouched: an ingest that rejects exactly the dirty rows and
    filters the reversals accepts exactly the clean 正常 rows. Returns a new extract
    whose ``dirty`` frame holds the raw strings, ``kind``, the target ``month`` (YYYYMM)
    and ``after`` (the file-order position of the clean row it follows).
    """
    seed = extract.params["seed"] if seed is None else seed
    g = np.random.default_rng(np.random.SeedSequence([int(seed), 0xD1127]))
    tx = extract.transactions
    months = yyyymmdd(tx["date"].to_numpy().astype("datetime64[D]")) // 100
    normal = np.flatnonzero((tx["status"] == STATUS_NORMAL).to_numpy())
    total = max(len(DIRTY_SHARES), round(rate * len(tx)))
    counts = {kind: max(1, round(share * total)) for kind, share in DIRTY_SHARES.items()}
    month_end = np.searchsorted(months, months, side="right")  # rows sorted by date
    pieces = []
    serial = 0
    last_month = normal[months[normal] == months.max()]
    for kind, k in counts.items():
        if kind == "date_after_extract":  # written with the last month's rows
            src = np.sort(g.choice(last_month, size=k))
        else:
            src = np.sort(g.choice(normal, size=k, replace=False))
        rows = format_bank_rows(tx.iloc[src])
        after = src.astype(float)
        if kind == "duplicate_txn_id":  # exact repeat, later in the same month's file
            after += np.floor(g.random(k) * (month_end[src] - src))
        else:  # a fresh serial number: the fault is the only thing wrong with the row
            dates = tx["date"].to_numpy()[src].astype("datetime64[D]")
            txn = yyyymmdd(dates) * 100_000_000 + 90_000_000 + serial + np.arange(k)
            rows["流水号"] = txn.astype(str)
            serial += k
        if kind == "bad_date":
            rows["交易日期"] = np.array(BAD_DATES)[g.integers(0, len(BAD_DATES), k)]
        elif kind == "blank_customer_id":
            rows["客户号"] = np.array(BLANK_IDS)[g.integers(0, len(BLANK_IDS), k)]
        elif kind == "bad_amount":
            rows["交易金额"] = np.array(BAD_AMOUNTS)[g.integers(0, len(BAD_AMOUNTS), k)]
        elif kind == "date_after_extract":
            end = np.datetime64(extract.params["extract_date"], "D")
            rows["交易日期"] = yyyymmdd(end + g.integers(1, 91, size=k)).astype(str)
        rows["kind"] = kind
        rows["month"] = months[src]
        rows["after"] = after
        pieces.append(rows)
    # the truncated row: a copy of a row of the last month, cut inside its date field
    src = int(normal[-1])
    cut = format_bank_rows(tx.iloc[[src]])
    end_txn = int(yyyymmdd(tx["date"].to_numpy()[[src]].astype("datetime64[D]"))[0])
    cut["流水号"] = str(end_txn * 100_000_000 + 90_000_000 + serial)
    cut["kind"] = "truncated_row"
    cut["month"] = months[src]
    cut["after"] = float(len(tx))
    pieces.append(cut)
    dirty = pd.concat(pieces, ignore_index=True)
    params = dict(extract.params)
    by_kind = dirty["kind"].value_counts().reindex(list(DIRTY_KINDS), fill_value=0)
    params["dirty_rows"] = {k: int(v) for k, v in by_kind.items()}
    params["dirty_rows_total"] = len(dirty)
    params["dirty_rate"] = rate
    counts_ = params["counts"]
    rejected = dict(params["dirty_rows"], filtered=counts_["rows_reversal"])
    params["expected_ingest"] = {
        "rows_read": counts_["rows_clean"] + len(dirty),
        "rows_accepted": counts_["rows_normal"],
        "rows_rejected": counts_["rows_reversal"] + len(dirty),
        "rejected_by_reason": rejected,
        "customers": counts_["customers"],
    }
    return dataclasses.replace(extract, dirty=dirty, params=params)


def format_amount(values: np.ndarray) -> list[str]:
    """Amounts as bank extracts print them: thousands separators, two decimals."""
    return [f"{v:,.2f}" for v in values.tolist()]


def format_bank_rows(transactions: pd.DataFrame) -> pd.DataFrame:
    """The clean rows as the extract's strings, with the Chinese headers."""
    dates = transactions["date"].to_numpy().astype("datetime64[D]")
    return pd.DataFrame(
        {
            "流水号": transactions["txn_id"].to_numpy(dtype=object),
            "客户号": transactions["customer_id"].to_numpy(dtype=object),
            "交易日期": yyyymmdd(dates).astype(str),
            "交易金额": format_amount(transactions["amount"].to_numpy()),
            "产品类别": transactions["product"].to_numpy(dtype=object),
            "渠道": transactions["channel"].to_numpy(dtype=object),
            "交易状态": transactions["status"].to_numpy(dtype=object),
        }
    )


def _csv_bytes(frame: pd.DataFrame, encoding: str) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode(encoding)


def write_bank_extract(extract: SyntheticExtract, out_dir: str | Path) -> dict[str, int]:
    """Write ``transactions_YYYYMM.csv`` (GB18030), ``clients.csv``, ``do_not_contact.csv``,
    ``true_params.json`` and ``true_customers.parquet`` (and the past campaign's
    ``responses.csv`` / ``true_campaign.parquet``, :mod:`synthetic.campaigns`); return data
    rows per monthly file.

    Any older ``transactions_*.csv`` in ``out_dir`` is removed first, so a regenerated
    sample never mixes with a previous one.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("transactions_*.csv"):
        old.unlink()
    tx = extract.transactions
    raw = format_bank_rows(tx)
    raw["month"] = yyyymmdd(tx["date"].to_numpy().astype("datetime64[D]")) // 100
    raw["after"] = np.arange(len(raw), dtype=float) - 0.5
    truncated = None
    if extract.dirty is not None:
        dirty = extract.dirty
        truncated = dirty[dirty["kind"] == "truncated_row"]
        raw = pd.concat([raw, dirty[dirty["kind"] != "truncated_row"]], ignore_index=True)
        raw = raw.drop(columns="kind")
    raw = raw.sort_values(["month", "after"], kind="stable")
    months = raw["month"].to_numpy()
    bounds = np.flatnonzero(np.diff(months)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(raw)]])
    columns = list(BANK_HEADER.values())
    rows_per_file: dict[str, int] = {}
    for i, (lo, hi) in enumerate(zip(starts, stops, strict=True)):
        name = f"transactions_{months[lo]}.csv"
        data = _csv_bytes(raw.iloc[lo:hi][columns], "gb18030")
        rows_per_file[name] = int(hi - lo)
        if truncated is not None and len(truncated) and i == len(starts) - 1:
            line = _csv_bytes(truncated[columns], "gb18030").decode("gb18030").splitlines()[1]
            fields = line.split(",")
            cut = ",".join(fields[:2]) + "," + fields[2][:5]
            data += cut.encode("gb18030")
            rows_per_file[name] += 1
        kio.write_bytes(out / name, data)
    clients = extract.clients.copy()
    clients["open_date"] = yyyymmdd(clients["open_date"].to_numpy().astype("datetime64[D]"))
    clients["asset_balance"] = format_amount(clients["asset_balance"].to_numpy())
    clients = clients.astype({"customer_id": object}).rename(columns=CLIENT_HEADER)
    kio.write_bytes(out / "clients.csv", _csv_bytes(clients, "gb18030"))
    dnc = pd.DataFrame({"客户号": extract.do_not_contact.astype(object)})
    kio.write_bytes(out / "do_not_contact.csv", _csv_bytes(dnc, "utf-8"))
    kio.write_parquet(out / "true_customers.parquet", extract.customers)
    params = dict(extract.params)
    params["counts"] = dict(params["counts"], files=rows_per_file)
    params["counts"]["rows_written"] = sum(rows_per_file.values())
    kio.write_json(out / "true_params.json", params)
    _write_past_campaign(extract, out, params["end"])
    from synthetic.signals import write_signals  # balances.csv, events.csv (own streams)

    write_signals(extract, out)
    return rows_per_file


def _arrow_table(transactions: pd.DataFrame) -> pa.Table:
    table = pa.Table.from_pandas(transactions[TRANSACTION_COLUMNS], preserve_index=False)
    date_index = table.schema.get_field_index("date")
    return table.set_column(date_index, "date", table["date"].cast(pa.date32()))


def write_parquet(extract: SyntheticExtract, target: str | Path) -> None:
    """Clean transactions (canonical columns, ``date`` as date32) as one Parquet file."""
    import pyarrow.parquet as pq

    with kio.atomic_path(target) as tmp:
        pq.write_table(_arrow_table(extract.transactions), tmp)


def write_csv_utf8(extract: SyntheticExtract, target: str | Path) -> None:
    """Clean transactions (canonical columns, ISO dates, plain amounts) as UTF-8 CSV."""
    import pyarrow.csv as pcsv

    with kio.atomic_path(target) as tmp:
        pcsv.write_csv(_arrow_table(extract.transactions), tmp)


def _write_past_campaign(extract: SyntheticExtract, out: Path, end: str) -> None:
    """The past campaign of :mod:`synthetic.campaigns` when its window closes by ``end``."""
    truth = CampaignTruth()
    if dt.date.fromisoformat(str(end)) >= dt.date.fromisoformat(truth.contact_date) + dt.timedelta(
        90
    ):
        write_campaign(plant_campaign(extract.transactions, extract.customers, truth), out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m synthetic",
        description="Generate the synthetic core-banking extract (see the module docstring).",
    )
    parser.add_argument("--out", required=True, help="output directory (e.g. data/sample)")
    parser.add_argument("--customers", type=int, default=20_000, help="transacting customers")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--start", default="2023-01-01", help="first acquisition date")
    parser.add_argument("--end", default="2025-12-31", help="extract date (last day)")
    parser.add_argument("--dirty-rate", type=float, default=0.005, help="share of dirty rows")
    parser.add_argument(
        "--format",
        choices=["bank", "parquet", "csv"],
        default="bank",
        help="bank: GB18030 monthly files with dirty rows (the sample); parquet / csv: "
        "clean canonical transactions.parquet / transactions.csv for benchmarks",
    )
    args = parser.parse_args(argv)
    log = get_logger("synthetic")
    started = time.perf_counter()
    try:
        with timed(log, f"generate {args.customers} customers"):
            extract = generate(args.customers, args.start, args.end, args.seed)
        log.info("%d clean rows", len(extract.transactions))
        out = Path(args.out)
        with timed(log, f"write {args.format} to {out}"):
            if args.format == "bank":
                extract = add_dirty_rows(extract, args.dirty_rate, args.seed)
                write_bank_extract(extract, out)
            elif args.format == "parquet":
                write_parquet(extract, out / "transactions.parquet")
            else:
                write_csv_utf8(extract, out / "transactions.csv")
    except UserError as exc:
        print(f"synthetic: error: {exc}", file=sys.stderr)
        return 2
    log.info("done in %.1f s", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
