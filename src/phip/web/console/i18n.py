"""The console's words in Chinese (default) and English, and numbers and dates per locale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from phip.standards import ethnicity

LOCALES = ("zh-CN", "en")
LANG_COOKIE = "phip_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("全民健康信息平台", "Population Health Information Platform"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Unknown user or wrong password"),
    "overview": ("全省概览", "Overview"),
    "explorer": ("指标查询", "Indicator explorer"),
    "connection": ("机构接入", "Facility connection"),
    "reporting": ("数据上报", "Reporting"),
    "reports_expected": ("应报批次", "Batches owed"),
    "reports_received": ("已收批次", "Received"),
    "reports_on_time": ("按时批次", "On time"),
    "on_time": ("按时", "on time"),
    "late": ("迟报", "late"),
    "missing": ("未报", "missing"),
    "not_owed": ("不应报（未接入）", "not owed (not connected)"),
    "reporting_by_month": ("近12个月上报率", "Reporting over the last 12 months"),
    "reporting_facilities": (
        "各机构逐月上报情况（未报、迟报的机构在前）",
        "Each facility's months (missing and late first)",
    ),
    "reporting_page_note": (
        "应报：已接入机构自接入月起每月一个数据批次，次月10日截止；截止日已过才计为应报。灰色：暂无数据。",
        "Owed: one data batch a month from each connected facility from its connection month, due on day 10 "
        "of the next month; a month counts once its deadline has passed. Grey: no data.",
    ),
    "colour_by": ("地图着色", "Map colour"),
    "show": ("显示", "Show"),
    "quality": ("数据质量", "Data quality"),
    "identity": ("身份核查", "Identity review"),
    "records": ("居民档案", "Resident records"),
    "language": ("English", "中文"),
    "forbidden": ("无权访问", "Access denied"),
    "forbidden_text": ("此页面不在您的角色或数据范围内。", "This page is outside your role or data scope."),
    "not_found": ("未找到", "Not found"),
    "no_pages": ("您的角色没有可用的管理页面。", "Your role has no console pages."),
    "residents": ("常住人口", "Residents"),
    "facilities_connected": ("已接入机构", "Facilities connected"),
    "records_month": ("本月接收记录", "Records received this month"),
    "indicator": ("指标", "Indicator"),
    "level": ("层级", "Level"),
    "period_type": ("周期类型", "Period type"),
    "period": ("周期", "Period"),
    "breakdown": ("分组", "Breakdown"),
    "none": ("无", "None"),
    "org_unit": ("机构/区划", "Org unit"),
    "category": ("类别", "Category"),
    "numerator": ("分子", "Numerator"),
    "denominator": ("分母", "Denominator"),
    "value": ("值", "Value"),
    "suppressed": ("小于5例，已隐藏", "fewer than 5, hidden"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "export_xlsx": ("导出 Excel", "Export Excel"),
    "map_title": ("地图", "Map"),
    "trend": ("趋势", "Trend"),
    "up": ("返回上一级", "Up one level"),
    "no_data": ("暂无数据", "No data"),
    "rows": ("行", "rows"),
    "truncated": ("结果过多，仅显示前部分", "Too many rows; only the first are shown"),
    "by_type": ("按机构类型", "By facility type"),
    "by_county": ("按县区", "By county"),
    "facility": ("机构", "Facility"),
    "type": ("类型", "Type"),
    "connected": ("已接入", "Connected"),
    "not_connected": ("未接入", "Not connected"),
    "total": ("合计", "Total"),
    "rate": ("接入率", "Rate"),
    "last_submission": ("最近上报", "Last submission"),
    "lag_days": ("距今天数", "Days since"),
    "never": ("从未上报", "never"),
    "batches": ("批次", "Batches"),
    "reporting_rate": ("数据上报率", "Reporting rate"),
    "reports": ("已收/应报", "Reports received / owed"),
    "period_open": ("期间未结束", "period not over"),
    "incomplete": ("（数据不完整）", "(incomplete)"),
    "over_bound": (
        "超过100%：分子与分母来源不同，可能有未合并的重复档案",
        "Above 100%: numerator and denominator come from different sources; "
        "the person index may hold unmerged duplicates",
    ),
    "reporting_on_time": ("按时上报率", "On time"),
    "reporting_note": (
        "上报完整率：近12个月已到期的月度数据批次中收到的比例（已接入机构自接入月起每月应报一批，次月10日截止）；按时上报率：截止日前收到的比例。",
        "Reporting rate: batches received of those owed over the last twelve months due (a connected "
        "facility owes one batch a month from its connection month, due on day 10 of the next month); "
        "on time: received by the deadline.",
    ),
    "scorecard": ("质量评分", "Scorecard"),
    "dqr": ("数据质量评估指标（WHO DQR）", "Data quality review metrics (WHO DQR)"),
    "dqr_metric": ("指标", "Metric"),
    "threshold": ("标记阈值", "Flagged when"),
    "assessed": ("评估机构数", "Facilities assessed"),
    "flagged": ("被标记", "Flagged"),
    "share_flagged": ("被标记占比", "Share flagged"),
    "none_flagged": ("没有被标记的机构", "No facility is flagged"),
    "dqr_note": (
        "按世界卫生组织数据质量评估（DQR）与DHIS2的方法，由最近一次质控计算，每个机构每年一组；值为本区域合计（比例）或中位数（天数、比值）。",
        "After the WHO Data Quality Review and DHIS2, from the last quality round, per facility and year; "
        "the value is the area's total (shares) or median (days, ratios).",
    ),
    "score": ("得分", "Score"),
    "rank": ("排名", "Rank"),
    "findings": ("问题数", "Findings"),
    "dimensions": ("维度", "Dimensions"),
    "trend_rounds": ("历次评分", "Score over rounds"),
    "report": ("核查报告", "Verification report"),
    "rule": ("规则", "Rule"),
    "status": ("状态", "Status"),
    "severity": ("严重程度", "Severity"),
    "element": ("数据元", "Element"),
    "resource": ("资源", "Resource"),
    "fix": ("修改建议", "How to fix"),
    "review_queue": ("待核查的疑似同一人", "Possible matches to review"),
    "probability": ("匹配概率", "Match probability"),
    "left": ("记录甲", "Record A"),
    "right": ("记录乙", "Record B"),
    "match": ("是同一人", "Same person"),
    "no_match": ("不是同一人", "Not a match"),
    "decided": ("已处理", "Decided"),
    "open_items": ("待处理", "Open"),
    "person": ("人员", "Person"),
    "decisions": ("处理记录", "Decisions"),
    "unmerge": ("撤销", "Undo"),
    "merge": ("合并", "Merge"),
    "search": ("查询", "Search"),
    "search_hint": ("输入姓名或居民档案编号", "Name or record id"),
    "timeline": ("跨机构诊疗时间线", "Cross-facility timeline"),
    "date": ("日期", "Date"),
    "what": ("内容", "What"),
    "audited": ("本次查看已记入审计日志。", "This view is recorded in the audit log."),
    "care_referral": ("依据：转诊至本机构", "Ground: a referral to this facility"),
    "care_consent": ("依据：居民授权", "Ground: the resident's consent"),
    "care_visit": ("依据：本机构就诊记录", "Ground: a visit at this facility"),
    "withheld": (
        "其他机构的档案仅在有诊疗关系依据（转诊、居民授权或本机构登记的就诊）时显示。",
        "Records of other facilities are shown only with evidence of care: a referral, "
        "the resident's consent, or a visit registered here.",
    ),
    "name": ("姓名", "Name"),
    "sex": ("性别", "Sex"),
    "birth_date": ("出生日期", "Birth date"),
    "id_number": ("身份证号", "Identity number"),
    "phone": ("电话", "Phone"),
    "address": ("住址", "Address"),
    "source": ("来源机构", "Source"),
    "male": ("男", "male"),
    "female": ("女", "female"),
    "other": ("其他", "other"),
    "unknown": ("未知", "unknown"),
    "poor": ("建档立卡贫困户", "poverty household"),
    "not-poor": ("非贫困户", "not a poverty household"),
    "province": ("省", "Province"),
    "prefecture": ("市州", "Prefecture"),
    "county": ("县区", "County"),
    "township": ("乡镇街道", "Township"),
    "day": ("日", "Day"),
    "week": ("周", "Week"),
    "month": ("月", "Month"),
    "quarter": ("季度", "Quarter"),
    "year": ("年", "Year"),
    "facility_type": ("机构类型", "Facility type"),
    "age_group": ("年龄组", "Age group"),
    "ethnicity": ("民族", "Ethnicity"),
    "poverty": ("贫困户", "Poverty household"),
    "hospital": ("医院", "Hospitals"),
    "primary": ("基层医疗卫生机构", "Primary care centres"),
    "village": ("村卫生室", "Village clinics"),
}


@dataclass(frozen=True)
class Translator:
    locale: str

    @property
    def lang(self) -> str:
        return "zh" if self.locale.startswith("zh") else "en"

    def __call__(self, key: str) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key
        return pair[0] if self.lang == "zh" else pair[1]

    def category(self, breakdown: str, code: str | None) -> str:
        """A breakdown's category in words (codes of sex, ethnicity, tier and poverty)."""
        if not code:
            return ""
        if breakdown == "ethnicity":
            try:
                return ethnicity.display(code, self.locale)
            except KeyError:
                return code
        if breakdown in ("sex", "facility_type", "poverty") or code == "unknown":
            return self(code)
        return code

    def number(self, value: Any, digits: int = 0) -> str:
        if value is None:
            return "—"
        return f"{float(value):,.{digits}f}" if digits else f"{round(float(value)):,}"

    def value(self, value: Any, unit: str) -> str:
        """An indicator value with its unit (rates to one decimal)."""
        if value is None:
            return "—"
        digits = 2 if unit in ("", "days", "CNY", "‰") and abs(float(value)) < 1000 else 1
        if unit in ("",) and float(value).is_integer():
            digits = 0
        shown = self.number(value, digits)
        return f"{shown}{unit}" if unit in ("%", "‰") else f"{shown} {self.unit(unit)}".rstrip()

    def unit(self, unit: str) -> str:
        names = {"days": ("天", "days"), "CNY": ("元", "CNY")}
        pair = names.get(unit)
        return "" if not unit else (pair[0] if self.lang == "zh" and pair else pair[1] if pair else unit)

    def date(self, value: date | datetime | None) -> str:
        if value is None:
            return "—"
        if self.lang == "zh":
            return f"{value.year}年{value.month}月{value.day}日"
        return value.strftime("%d %b %Y").lstrip("0")

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return f"{self.date(value)} {value.strftime('%H:%M')}"


def pick_locale(requested: str | None, cookie: str | None, default: str) -> str:
    for cand in (requested, cookie, default):
        if cand in LOCALES:
            return cand
    return "zh-CN"
