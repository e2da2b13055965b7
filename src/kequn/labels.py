"""English and Chinese names for everything a user reads: tiers, segments, warnings, actions.

Stages store the stable English *code* (``"strategic"``, ``"red"``) in their tables and
look the display name up here with :func:`label`; the report and the target lists pick the
language from ``params['report']['language']``.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

#: code -> {"en": ..., "zh": ...}
LABELS: dict[str, dict[str, str]] = {
    # value tiers (价值分层)
    "strategic": {"en": "Strategic", "zh": "战略客群"},
    "value": {"en": "Value", "zh": "价值客群"},
    "basic": {"en": "Basic", "zh": "基础客群"},
    # asset-size tiers
    "large": {"en": "Large", "zh": "大客户"},
    "medium": {"en": "Medium", "zh": "中客户"},
    "small": {"en": "Small", "zh": "小客户"},
    "unknown": {"en": "Unknown", "zh": "未知"},
    # warning levels (预警等级)
    "red": {"en": "Red", "zh": "红"},
    "orange": {"en": "Orange", "zh": "橙"},
    "yellow": {"en": "Yellow", "zh": "黄"},
    "none": {"en": "None", "zh": "无"},
    # RFM segments
    "champions": {"en": "Champions", "zh": "重要价值客户"},
    "loyal": {"en": "Loyal", "zh": "忠诚客户"},
    "potential_loyalists": {"en": "Potential loyalists", "zh": "潜力忠诚客户"},
    "new": {"en": "New", "zh": "新客户"},
    "promising": {"en": "Promising", "zh": "有潜力客户"},
    "need_attention": {"en": "Need attention", "zh": "需要关注客户"},
    "about_to_sleep": {"en": "About to sleep", "zh": "即将沉睡客户"},
    "at_risk": {"en": "At risk", "zh": "流失风险客户"},
    "cant_lose_them": {"en": "Can't lose them", "zh": "不能失去的客户"},
    "hibernating": {"en": "Hibernating", "zh": "沉睡客户"},
    "lost": {"en": "Lost", "zh": "已流失客户"},
    # product-preference types
    "deposit_led": {"en": "Deposit-led", "zh": "存款倚重型"},
    "loan_led": {"en": "Loan-led", "zh": "贷款倚重型"},
    "fee_led": {"en": "Fee-business-led", "zh": "中间业务倚重型"},
    "balanced": {"en": "Balanced", "zh": "综合均衡型"},
    # tier migration
    "upgrade": {"en": "Upgraded", "zh": "升级"},
    "downgrade": {"en": "Downgraded", "zh": "降级"},
    "same": {"en": "Unchanged", "zh": "不变"},
    # campaigns
    "retention": {"en": "Retention", "zh": "挽留"},
    "growth": {"en": "Growth / cross-sell", "zh": "提升"},
    "winback": {"en": "Win-back", "zh": "唤醒"},
    "vip_care": {"en": "VIP care", "zh": "重点维护"},
    # transaction channels (segmentation cluster names: "mobile-first" / "手机银行为主")
    "柜面": {"en": "counter", "zh": "柜面"},
    "手机银行": {"en": "mobile", "zh": "手机银行"},
    "网上银行": {"en": "online-banking", "zh": "网上银行"},
    "counter": {"en": "counter", "zh": "柜面"},
    "mobile": {"en": "mobile", "zh": "手机银行"},
    "online": {"en": "online-banking", "zh": "网上银行"},
    # product categories (segmentation cluster names: "deposit-heavy" / "偏存款")
    "存款": {"en": "deposit", "zh": "存款"},
    "贷款": {"en": "loan", "zh": "贷款"},
    "理财": {"en": "wealth-management", "zh": "理财"},
    "中间业务": {"en": "fee-business", "zh": "中间业务"},
    # churn reason codes (churn.parquet reason_codes)
    "account_closing": {"en": "Account closing", "zh": "即将销户"},
    "long_gap": {"en": "Long silence", "zh": "长期无交易"},
    "single_purchase": {"en": "Single transaction day", "zh": "仅一次交易"},
    "value_down": {"en": "Value down", "zh": "交易金额下降"},
    "fewer_products": {"en": "Fewer product lines", "zh": "产品线减少"},
    "channel_shift": {"en": "Channel shift", "zh": "渠道迁移"},
    "fewer_visits": {"en": "Fewer transaction days", "zh": "交易天数减少"},
    "infrequent": {"en": "Infrequent", "zh": "交易频率低"},
    "aum_down": {"en": "Assets flowing out", "zh": "资产流失"},
    "unresolved_complaints": {"en": "Unresolved complaints", "zh": "投诉未解决"},
    "recent_complaints": {"en": "Recent complaints", "zh": "近期投诉"},
    # ingest reject reasons (rejects.csv reason)
    "bad_date": {"en": "Invalid date", "zh": "日期无效"},
    "blank_customer_id": {"en": "Blank customer id", "zh": "客户号为空"},
    "bad_amount": {"en": "Invalid amount", "zh": "金额无效"},
    "duplicate_txn_id": {"en": "Duplicate transaction id", "zh": "流水号重复"},
    "date_after_extract": {"en": "Date after the extract", "zh": "日期晚于提数日"},
    "truncated_row": {"en": "Truncated row", "zh": "行不完整"},
    "extra_fields": {"en": "Extra fields", "zh": "字段数过多"},
    "duplicate_customer_id": {"en": "Duplicate client record", "zh": "客户号重复"},
    "id_too_long": {"en": "Id too long", "zh": "编号过长"},
    "date_before_min": {"en": "Date before the plausible window", "zh": "日期早于合理范围"},
    "negative_amount": {"en": "Negative amount", "zh": "金额为负"},
    "zero_amount": {"en": "Zero amount", "zh": "金额为零"},
    "filtered": {"en": "Filtered by the mapping (not an error)", "zh": "按映射规则过滤（非错误）"},
    # model names (ltv and churn candidates)
    "bgnbd": {"en": "BG/NBD", "zh": "BG/NBD"},
    "pareto_nbd": {"en": "Pareto/NBD", "zh": "Pareto/NBD"},
    "mbgnbd": {"en": "MBG/NBD", "zh": "MBG/NBD"},
    "gbm": {"en": "Gradient boosting", "zh": "梯度提升树"},
    "gbm_stacked": {"en": "Gradient boosting on BTYD outputs", "zh": "基于BTYD输出的梯度提升树"},
    "hgb": {"en": "Gradient boosting", "zh": "梯度提升树"},
    "logistic": {"en": "Logistic regression", "zh": "逻辑回归"},
    "past_value_repeats": {"en": "Baseline: past value repeats", "zh": "基准：历史价值重复"},
    "btyd": {"en": "BTYD P(alive)", "zh": "BTYD存活概率"},
    "survival": {"en": "Survival (Cox)", "zh": "生存模型（Cox）"},
    "btyd_expected": {"en": "BTYD expected purchases", "zh": "BTYD预期购买次数"},
    "blend": {"en": "Blend of the candidates", "zh": "候选模型平均"},
    "stack": {"en": "Stack of the candidates (learned weights)", "zh": "候选模型加权堆叠"},
    # report (reporting): titles, sentences ({placeholders} are filled in), axes, tables
    "report_title": {"en": "Client base report", "zh": "客群经营分析报告"},
    "report_as_of": {"en": "Data as of {as_of}", "zh": "数据截至 {as_of}"},
    "report_summary": {"en": "Executive summary", "zh": "管理摘要"},
    "report_summary_customers": {
        "en": "{customers} customers, {active} of them ({active_share}) active in the last "
        "{days} days.",
        "zh": "客户共{customers}名，其中近{days}天活跃{active}名（{active_share}）。",
    },
    "report_summary_concentration": {
        "en": "{share} of customers make 80% of the value.",
        "zh": "{share}的客户贡献了80%的价值。",
    },
    "report_summary_value": {
        "en": "Predicted value over the next {months} months: {clv}.",
        "zh": "未来{months}个月预测客户价值合计{clv}。",
    },
    "report_summary_lapsed": {
        "en": "{lapsed} clients have lapsed (silent for longer than the churn horizon: a "
        "win-back matter); of the {active} active clients, {at_risk} carry a churn warning.",
        "zh": "{lapsed}名客户已流失（沉默超过流失观察期，属唤醒范畴）；{active}名活跃客户中，"
        "{at_risk}名有流失预警。",
    },
    "report_summary_risk": {
        "en": "Value at risk (CLV × churn probability): {var}, {var_share} of the predicted "
        "value; warnings: {red} red, {orange} orange, {yellow} yellow.",
        "zh": "风险价值（CLV×流失概率）{var}，占预测价值{var_share}；红色预警{red}名、"
        "橙色{orange}名、黄色{yellow}名。",
    },
    "report_summary_tiers": {
        "en": "Since the last run {up} customers moved up a value tier and {down} moved down "
        "({new} new customers).",
        "zh": "较上期，{up}名客户价值分层升级，{down}名降级（新客户{new}名）。",
    },
    "report_summary_targets": {
        "en": "{lists} target lists with {rows} customers ({contacts} to contact, the rest "
        "control); expected net return {net}.",
        "zh": "生成{lists}份营销名单，共{rows}名客户（触达{contacts}名，其余为对照组），"
        "预期净收益{net}。",
    },
    "report_kpi_customers": {"en": "Customers", "zh": "客户数"},
    "report_kpi_active": {"en": "Active customers", "zh": "活跃客户"},
    "report_kpi_concentration": {"en": "Customers making 80% of value", "zh": "贡献80%价值的客户"},
    "report_kpi_clv": {"en": "Predicted value", "zh": "预测价值"},
    "report_kpi_var": {"en": "Value at risk", "zh": "风险价值"},
    "report_kpi_targets": {"en": "Expected net return of lists", "zh": "名单预期净收益"},
    "report_sec_tiers": {"en": "Value tiers", "zh": "价值分层"},
    "report_sec_pareto": {
        "en": "Value concentration (Pareto curve)",
        "zh": "价值集中度（帕累托曲线）",
    },
    "report_sec_rfm": {"en": "RFM segment map", "zh": "RFM客户细分"},
    "report_sec_clusters": {"en": "Behavioural clusters", "zh": "行为聚类画像"},
    "report_sec_clv": {"en": "Lifetime value distribution", "zh": "客户终身价值分布"},
    "report_sec_churn": {"en": "Churn risk by value tier", "zh": "各价值分层流失风险"},
    "report_sec_survival": {
        "en": "Survival by value tier (Kaplan–Meier)",
        "zh": "各价值分层生存曲线（Kaplan–Meier）",
    },
    "report_sec_ltv_backtest": {"en": "Lifetime-value model backtest", "zh": "价值模型回测"},
    "report_sec_churn_backtest": {"en": "Churn model backtest", "zh": "流失模型回测"},
    "report_sec_targets": {"en": "Target lists", "zh": "营销名单"},
    # next best product (产品适配): the product lines and the report's take-up table
    "product_deposit": {"en": "Deposits", "zh": "存款"},
    "product_loan": {"en": "Loans", "zh": "贷款"},
    "product_fee": {"en": "Wealth and fee services", "zh": "理财及中间业务"},
    "report_sec_products": {"en": "Next best product", "zh": "产品适配（交叉销售）"},
    "report_note_products": {
        "en": "Take-up = first use of a product line the client did not hold, within {days} "
        "days. Model: {model}, one per line, backtested on {n} cut-off(s); the popularity "
        "baseline ranks everyone by the line's overall take-up rate.",
        "zh": "适配 = 客户在{days}天内首次使用此前未持有的产品线。模型：{model}（每条产品线一个），"
        "在{n}个历史截点回测；基准为按产品线整体适配率排序（热门度）。",
    },
    "report_product_line": {"en": "Product line", "zh": "产品线"},
    "report_take_up_rate": {"en": "Take-up rate", "zh": "适配率"},
    "report_top_decile_take_up": {"en": "Take-up, top 10%", "zh": "前10%客户适配率"},
    "report_auc_model": {"en": "AUC (model)", "zh": "AUC（模型）"},
    "report_auc_baseline": {"en": "AUC (popularity)", "zh": "AUC（热门度基准）"},
    "report_lift_model": {"en": "Lift@10% (model)", "zh": "前10%提升度（模型）"},
    "report_lift_baseline": {"en": "Lift@10% (popularity)", "zh": "前10%提升度（基准）"},
    "report_mean_over_lines": {"en": "Mean over lines", "zh": "各产品线平均"},
    "report_sec_quality": {"en": "Data quality", "zh": "数据质量"},
    "report_note_survival": {
        "en": "A customer is lost when inactive for more than {days} days; the curve is the "
        "share still active after a given number of days since the first transaction.",
        "zh": "超过{days}天无交易视为流失；曲线为自首次交易起经过若干天后仍活跃的客户比例。",
    },
    "report_note_backtest": {
        "en": "Models fitted as of {cutoff} and scored on what really happened after it.",
        "zh": "模型以{cutoff}为截点拟合，并用此后的真实交易检验。",
    },
    "report_note_chosen": {
        "en": "Chosen: {model} ({reason}).",
        "zh": "选用模型：{model}（{reason}）。",
    },
    "report_note_zero_clv": {
        "en": "{n} customers with a predicted value below {floor} are not shown (log scale).",
        "zh": "另有{n}名客户预测价值低于{floor}，未在对数刻度图中显示。",
    },
    "report_reason_ltv_auto": {
        "en": "lowest per-customer error of holdout value in the backtest",
        "zh": "回测中单客户验证期金额误差最小",
    },
    "report_reason_churn_auto": {
        "en": "best mean rank over ROC AUC, PR AUC and Brier score in the backtest",
        "zh": "回测中ROC AUC、PR AUC与Brier评分综合排名最佳",
    },
    "report_reason_requested": {"en": "set in params.yaml", "zh": "在params.yaml中指定"},
    "report_missing": {
        "en": "Not available: {what} is missing from this run.",
        "zh": "暂无数据：本次运行缺少{what}。",
    },
    "report_na": {"en": "n/a", "zh": "暂无"},
    "report_footer": {
        "en": "Generated by Kequn from the pipeline outputs; details in reports/metrics/*.json.",
        "zh": "由客群（Kequn）分析流水线自动生成；详细指标见 reports/metrics/*.json。",
    },
    "report_customer_share": {"en": "Share of customers", "zh": "客户占比"},
    "report_value_share": {"en": "Share of value", "zh": "价值占比"},
    "report_customers": {"en": "Customers", "zh": "客户数"},
    "report_value_tier": {"en": "Value tier", "zh": "价值分层"},
    "report_warning_level": {"en": "Warning level", "zh": "预警等级"},
    "report_rfm_segment": {"en": "RFM segment", "zh": "RFM细分"},
    "report_recency_score": {
        "en": "Recency score R (5 = most recent)",
        "zh": "最近交易得分R（5=最近）",
    },
    "report_frequency_score": {
        "en": "Frequency score F (5 = most often)",
        "zh": "交易频次得分F（5=最频繁）",
    },
    "report_clv_axis": {
        "en": "CLV ({currency}, log scale)",
        "zh": "客户终身价值（{currency}，对数刻度）",
    },
    "report_mean_churn": {"en": "Mean churn probability", "zh": "平均流失概率"},
    "report_days_since_first": {"en": "Days since first transaction", "zh": "距首次交易天数"},
    "report_share_active": {"en": "Share still active", "zh": "仍活跃客户比例"},
    "report_actual": {"en": "Actual", "zh": "实际"},
    "report_predicted": {"en": "Predicted", "zh": "预测"},
    "report_model": {"en": "Model", "zh": "模型"},
    "report_random": {"en": "Random", "zh": "随机"},
    "report_chosen": {"en": "chosen", "zh": "选用"},
    "report_calibration_x": {
        "en": "Repeat transactions before the cutoff",
        "zh": "截点前重复交易次数",
    },
    "report_calibration_y": {
        "en": "Mean transactions in the holdout",
        "zh": "验证期平均交易次数",
    },
    "report_decile": {
        "en": "Decile of predicted value (1 = highest)",
        "zh": "预测价值十分位（1=最高）",
    },
    "report_holdout_value": {
        "en": "Holdout value ({currency})",
        "zh": "验证期交易金额（{currency}）",
    },
    "report_value_captured": {"en": "Share of holdout value captured", "zh": "覆盖验证期价值占比"},
    "report_churners_captured": {"en": "Share of churners captured", "zh": "覆盖流失客户占比"},
    "report_fpr": {"en": "False positive rate", "zh": "假阳性率"},
    "report_tpr": {"en": "True positive rate", "zh": "真阳性率"},
    "report_predicted_probability": {"en": "Predicted churn probability", "zh": "预测流失概率"},
    "report_observed_rate": {"en": "Observed churn rate", "zh": "实际流失率"},
    "report_mae_value": {
        "en": "MAE of holdout value per customer",
        "zh": "单客户验证期金额平均绝对误差",
    },
    "report_value_error": {"en": "Aggregate value error", "zh": "总金额相对误差"},
    "report_spearman": {"en": "Rank correlation", "zh": "秩相关系数"},
    "report_gini": {"en": "Gini", "zh": "基尼系数"},
    "report_roc_auc": {"en": "ROC AUC", "zh": "ROC AUC"},
    "report_pr_auc": {"en": "PR AUC", "zh": "PR AUC"},
    "report_brier": {"en": "Brier score", "zh": "Brier评分"},
    "report_campaign": {"en": "Campaign", "zh": "营销活动"},
    "report_rows": {"en": "Customers listed", "zh": "名单客户数"},
    "report_contacts": {"en": "To contact", "zh": "触达客户数"},
    "report_control": {"en": "Control group", "zh": "对照组"},
    "report_expected_value": {"en": "Expected value", "zh": "预期价值"},
    "report_cost": {"en": "Cost", "zh": "成本"},
    "report_expected_net_return": {"en": "Expected net return", "zh": "预期净收益"},
    "report_suppressed": {"en": "Do-not-contact removed", "zh": "免打扰剔除"},
    "report_overlap_removed": {"en": "Already in another list", "zh": "因重叠剔除"},
    "report_total": {"en": "Total", "zh": "合计"},
    "report_branch": {"en": "Branch", "zh": "网点"},
    "report_branch_name": {"en": "Branch name", "zh": "网点名称"},
    "report_other_branches": {"en": "{n} other branches", "zh": "其他{n}个网点"},
    "report_branch_table": {
        "en": "Contacts per branch and list, and their expected value ({shown} of {branches} "
        "branches, most contacts first; one file per branch in reports/targets/by_branch/).",
        "zh": "各网点各名单的触达客户数与预期价值（共{branches}个网点，按触达数显示前{shown}个；"
        "每个网点一份文件，见 reports/targets/by_branch/）。",
    },
    "report_note_no_branches": {
        "en": "The client master has no branch column: every client is in one branch, "
        "'unassigned', and the lists are not split by branch or manager.",
        "zh": "客户主数据没有网点字段：所有客户归入同一网点“unassigned”（未分配），"
        "名单未按网点和客户经理拆分。",
    },
    "report_note_unassigned": {
        "en": "{n} clients have no branch on record; they are listed under 'unassigned'.",
        "zh": "{n}位客户没有网点记录，归入“unassigned”（未分配）。",
    },
    "report_rows_read": {"en": "Rows read", "zh": "读取行数"},
    "report_rows_accepted": {"en": "Rows accepted", "zh": "接受行数"},
    "report_rows_rejected": {"en": "Rows rejected", "zh": "拒绝行数"},
    "report_reject_rate": {
        "en": "Reject rate (filtered rows excluded)",
        "zh": "拒绝率（不含过滤行）",
    },
    "report_period": {"en": "Period", "zh": "数据期间"},
    "report_reason": {"en": "Reason", "zh": "原因"},
    "report_cluster": {"en": "Cluster", "zh": "聚类"},
    "report_mean_clv": {"en": "Mean CLV", "zh": "平均客户价值"},
    "report_mean_days_since_last": {
        "en": "Mean days since last transaction",
        "zh": "距上次交易平均天数",
    },
}


def label(code: str, language: str = "en") -> str:
    """Display name of ``code`` in ``language`` (``"en"`` or ``"zh"``); the code if unknown."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    entry = LABELS.get(code)
    return entry[language] if entry else code
