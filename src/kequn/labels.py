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
    # contact actions and channels
    "rm_visit": {"en": "Dedicated relationship-manager visit", "zh": "专属客户经理上门拜访"},
    "rm_call": {"en": "Relationship-manager call", "zh": "客户经理电话回访"},
    "digital": {"en": "App push / SMS / self-service", "zh": "手机银行推送/短信/自助渠道"},
    # transaction channels (segmentation cluster names: "mobile-first" / "手机银行为主")
    "柜面": {"en": "counter", "zh": "柜面"},
    "手机银行": {"en": "mobile", "zh": "手机银行"},
    "网上银行": {"en": "online-banking", "zh": "网上银行"},
    "counter": {"en": "counter", "zh": "柜面"},
    "mobile": {"en": "mobile", "zh": "手机银行"},
    "online": {"en": "online-banking", "zh": "网上银行"},
    "action_retention_offer": {"en": "Retention offer", "zh": "挽留关怀与优惠"},
    "action_cross_sell": {"en": "Cross-sell the next product", "zh": "交叉销售新产品"},
    "action_reactivation_offer": {"en": "Reactivation offer", "zh": "唤醒激活优惠"},
    "action_relationship_review": {"en": "Relationship review", "zh": "客户关系维护回访"},
    # churn reason codes (churn.parquet reason_codes)
    "account_closing": {"en": "Account closing", "zh": "即将销户"},
    "long_gap": {"en": "Long silence", "zh": "长期无交易"},
    "single_purchase": {"en": "Single transaction day", "zh": "仅一次交易"},
    "value_down": {"en": "Value down", "zh": "交易金额下降"},
    "fewer_products": {"en": "Fewer product lines", "zh": "产品线减少"},
    "channel_shift": {"en": "Channel shift", "zh": "渠道迁移"},
    "fewer_visits": {"en": "Fewer transaction days", "zh": "交易天数减少"},
}


def label(code: str, language: str = "en") -> str:
    """Display name of ``code`` in ``language`` (``"en"`` or ``"zh"``); the code if unknown."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
    entry = LABELS.get(code)
    return entry[language] if entry else code
