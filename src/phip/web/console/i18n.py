"""The console's words in Chinese (default) and English, and numbers and dates per locale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from phip.standards import ethnicity
from phip.web.console.finding_words import finding_value

LOCALES = ("zh-CN", "en")
LANG_COOKIE = "phip_lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("全民健康信息平台", "Population Health Information Platform"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "login_failed": ("用户名或密码错误", "Unknown user or wrong password"),
    "overview": ("概览", "Overview"),
    "facility_indicators": (
        "本机构指标（最近一个已结束的周期）",
        "This facility's indicators (the last period that has ended)",
    ),
    "previous_period": ("上一周期", "Period before"),
    "last_12_months": ("近12个月", "last 12 months"),
    "explorer": ("指标查询", "Indicator explorer"),
    "pivot": ("透视表", "Pivot table"),
    "show_facilities": (
        "显示机构位置（绿：已接入，红：未接入）",
        "Show facilities (green: connected, red: not)",
    ),
    "about_indicator": (
        "指标说明（定义、分子、分母、来源、单位、目标、计算时间）",
        "About this indicator (definition, numerator, denominator, sources, unit, target, computed at)",
    ),
    "pick_unit": ("选择下级区划…", "Choose a unit below…"),
    "last_n": ("最近已结束的周期数", "Last periods ended"),
    "rows_are": ("行", "Rows"),
    "columns_are": ("列", "Columns"),
    "dim_unit": ("区划", "Org unit"),
    "dim_period": ("周期", "Period"),
    "dim_category": ("类别", "Category"),
    "chart": ("图表", "Chart"),
    "grouped": ("分组柱状图", "Grouped bars"),
    "stacked": ("堆积柱状图", "Stacked bars"),
    "yoy": ("与上年同期比较", "Compare with a year before"),
    "target": ("目标", "Target"),
    "year_before": ("上年同期", "a year before"),
    "pivot_note": (
        "合计是该指标对上级区划、全年或全部类别的计算值，不是各格相加（比率不能相加）。橙色：数据不完整。",
        "Totals are the indicator's own values for the parent unit, the whole year or all categories, "
        "not sums of the cells (rates do not add up). Orange: incomplete.",
    ),
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
    "dimension": ("维度", "Dimension"),
    "heat_legend": ("得分色阶（单位 × 维度热图）", "Score colours (unit × dimension heat map)"),
    "all": ("全部", "All"),
    "filter": ("筛选", "Filter"),
    "records_found": ("问题记录", "Records"),
    "first_round": ("首次发现（轮次）", "First found (round)"),
    "finding_value": ("问题值", "Value found"),
    "page": ("页", "Page"),
    "by_rule": ("按规则汇总（点击规则查看记录）", "By rule (open a rule for its records)"),
    "dqr": ("数据质量评估指标（WHO DQR）", "Data quality review metrics (WHO DQR)"),
    "dqr_metric": ("指标", "Metric"),
    "unit_outliers": ("指标值与同级区划相比异常", "Indicator values unlike their peers'"),
    "unit_outliers_note": (
        "同一层级、同一年份的区划之间，修正Z分数（0.6745×（值−中位数）/中位数绝对偏差）绝对值超过3.5的指标值；少于5个区划有值的指标不判断。",
        "Among the units of one level in one year, values whose modified z-score "
        "(0.6745 × (value − median) / median absolute deviation) lies beyond 3.5; "
        "an indicator valued in fewer than 5 units is not judged.",
    ),
    "peer_median": ("同级中位数", "Peers' median"),
    "modified_z": ("修正Z分数", "Modified z"),
    "peers": ("同级区划数", "Peers"),
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
    "township_type": ("乡镇类型（城乡）", "Township type (urban/rural)"),
    "subdistrict": ("街道（城区）", "Sub-district (urban)"),
    "town": ("镇", "Town"),
    "rural_township": ("乡", "Township (rural)"),
    "above_township": ("县级及以上机构", "Above township level"),
    "age_group": ("年龄组", "Age group"),
    "ethnicity": ("民族", "Ethnicity"),
    "poverty": ("贫困户", "Poverty household"),
    "hospital": ("医院", "Hospitals"),
    "primary": ("基层医疗卫生机构", "Primary care centres"),
    "village": ("村卫生室", "Village clinics"),
    "record": ("记录", "Record"),
    "system": ("平台自动", "the platform"),
    "api_client": ("接口客户端", "API client"),
    "patients_total": ("名居民", "residents"),
    "next_page": ("下一页", "Next page"),
    "first_page": ("第一页", "First page"),
    "records_of": ("的全部记录", ": every record"),
    "pair_scored": ("比对的两条记录", "The two records compared"),
    "comparison": ("比对结果", "Comparison"),
    "differs_note": (
        "黄色：与该人员第一条记录不同的值",
        "Yellow: a value that differs from the person's first record",
    ),
    "link_status": ("关联方式", "Linked by"),
}

#: FHIR resource types in words (a record's kind)
RESOURCE_TYPES: dict[str, tuple[str, str]] = {
    "Patient": ("患者档案", "Patient record"),
    "Encounter": ("就诊", "Visit"),
    "Condition": ("诊断", "Diagnosis"),
    "Observation": ("检查检验", "Observation"),
    "MedicationRequest": ("处方", "Prescription"),
    "MedicationDispense": ("发药", "Dispensing"),
    "Immunization": ("预防接种", "Immunisation"),
    "Coverage": ("医保参保", "Insurance coverage"),
    "Claim": ("费用结算", "Claim"),
    "ExplanationOfBenefit": ("医保报销", "Reimbursement"),
    "Appointment": ("预约", "Appointment"),
    "Procedure": ("手术操作", "Procedure"),
    "DiagnosticReport": ("检查报告", "Diagnostic report"),
    "AllergyIntolerance": ("过敏史", "Allergy"),
    "ServiceRequest": ("转诊申请", "Referral"),
    "Flag": ("标记", "Flag"),
    "CareTeam": ("家庭医生团队", "Care team"),
    "EpisodeOfCare": ("健康管理", "Care programme"),
    "Location": ("地点", "Location"),
    "PractitionerRole": ("医务人员", "Staff post"),
    "Practitioner": ("医务人员", "Practitioner"),
    "Organization": ("机构", "Organisation"),
    "Submission": ("上报批次", "Submitted batch"),
}
#: the statuses a record of the timeline may carry (FHIR R4 value sets), in words
RECORD_STATUSES: dict[str, tuple[str, str]] = {
    "planned": ("计划中", "planned"),
    "arrived": ("已到达", "arrived"),
    "triaged": ("已分诊", "triaged"),
    "in-progress": ("进行中", "in progress"),
    "onleave": ("请假中", "on leave"),
    "finished": ("已完成", "finished"),
    "completed": ("已完成", "completed"),
    "cancelled": ("已取消", "cancelled"),
    "entered-in-error": ("录入错误", "entered in error"),
    "unknown": ("未知", "unknown"),
    "active": ("有效", "active"),
    "recurrence": ("复发", "recurrence"),
    "relapse": ("复发", "relapse"),
    "inactive": ("无效", "inactive"),
    "remission": ("缓解", "remission"),
    "resolved": ("已痊愈", "resolved"),
    "registered": ("已登记", "registered"),
    "preliminary": ("初步结果", "preliminary"),
    "final": ("最终结果", "final"),
    "amended": ("已修正", "amended"),
    "corrected": ("已更正", "corrected"),
    "stopped": ("已停止", "stopped"),
    "on-hold": ("暂停", "on hold"),
    "draft": ("草稿", "draft"),
    "revoked": ("已撤销", "revoked"),
    "not-done": ("未接种", "not done"),
    "preparation": ("准备中", "preparation"),
    "declined": ("已拒绝", "declined"),
    "booked": ("已预约", "booked"),
    "fulfilled": ("已就诊", "fulfilled"),
    "noshow": ("爽约", "no show"),
    "pending": ("待确认", "pending"),
    "proposed": ("已提议", "proposed"),
}
#: UCUM codes in the words people write them in
UNITS: dict[str, tuple[str, str]] = {
    "mm[Hg]": ("mmHg", "mmHg"),
    "Cel": ("℃", "°C"),
    "/min": ("次/分", "/min"),
    "kg/m2": ("kg/m²", "kg/m²"),
    "10*9/L": ("×10⁹/L", "×10⁹/L"),
    "10*12/L": ("×10¹²/L", "×10¹²/L"),
    "a": ("岁", "years"),
    "d": ("天", "days"),
    "h": ("小时", "hours"),
}
SEVERITY_WORDS: dict[str, tuple[str, str]] = {
    "error": ("错误", "Error"),
    "warning": ("警告", "Warning"),
    "info": ("提示", "Information"),
}

#: the person index's codes in words: comparison levels, review and person statuses, decisions
CODES: dict[str, tuple[str, str]] = {
    "exact": ("完全一致", "identical"),
    "equivalent_15_18": ("15位与18位号码对应", "15- and 18-digit forms of one number"),
    "one_edit": ("相差一位", "one character off"),
    "different": ("不同", "different"),
    "minority_variant": ("少数民族姓名写法不同", "minority-name variant"),
    "same_pinyin": ("拼音相同", "same pinyin"),
    "one_char": ("相差一字", "one character off"),
    "pinyin_close": ("拼音相近", "similar pinyin"),
    "minority_partial": ("少数民族姓名部分相同", "minority name in part"),
    "same_surname": ("仅姓相同", "same surname only"),
    "day_month_swapped": ("日与月颠倒", "day and month swapped"),
    "one_digit": ("相差一位数字", "one digit off"),
    "within_31_days": ("相差31天以内", "within 31 days"),
    "same_year": ("同年", "same year"),
    "agree": ("相同", "same"),
    "disagree": ("不同", "different"),
    "exact_shared": ("相同（多人共用）", "same (shared by several people)"),
    "same_village": ("同村", "same village"),
    "same_township": ("同乡镇", "same township"),
    "same_county": ("同县区", "same county"),
    "text_similar": ("文字相近", "similar text"),
    "missing": ("缺失", "missing"),
    "open": ("待处理", "to review"),
    "match": ("已确认为同一人", "confirmed the same person"),
    "no-match": ("已确认不是同一人", "confirmed not a match"),
    "stale": ("已失效（记录已变化）", "stale (the records changed)"),
    "active": ("有效", "active"),
    "merged": ("已合并", "merged"),
    "empty": ("无记录", "no records"),
    "auto": ("自动关联", "linked automatically"),
    "manual": ("人工确定", "decided by hand"),
    "link": ("关联", "link"),
    "unlink": ("解除关联", "unlink"),
    "merge": ("合并", "merge"),
    "review-match": ("核查确认为同一人", "review: same person"),
    "revert": ("撤销", "undo"),
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

    def code(self, code: str | None) -> str:
        """A code of the person index (a comparison level, a status, a decision) in words."""
        if not code:
            return ""
        pair = CODES.get(code)
        return code if pair is None else pair[0] if self.lang == "zh" else pair[1]

    def resource(self, reference: str | None) -> str:
        """A record's kind in words ("Observation/abc" → 检查检验)."""
        kind = (reference or "").split("/", 1)[0]
        pair = RESOURCE_TYPES.get(kind)
        return kind if pair is None else pair[0] if self.lang == "zh" else pair[1]

    def record_status(self, code: str | None) -> str:
        pair = RECORD_STATUSES.get(code or "")
        return code or "" if pair is None else pair[0] if self.lang == "zh" else pair[1]

    def ucum(self, code: str | None) -> str:
        """A unit of measure as people write it (mm[Hg] → mmHg)."""
        pair = UNITS.get(code or "")
        return code or "" if pair is None else pair[0] if self.lang == "zh" else pair[1]

    def actor(self, actor: str | None) -> str:
        """Who did something: a staff login by its name, an API client, or the platform itself."""
        kind, _, name = (actor or "").partition(":")
        if not name:
            return self("system") if kind in ("", "system", "auto") else kind
        return name if kind == "staff" else f"{self('api_client')} {name}" if kind == "client" else name

    def severity(self, code: str | None) -> str:
        pair = SEVERITY_WORDS.get(code or "")
        return code or "" if pair is None else pair[0] if self.lang == "zh" else pair[1]

    def category(self, breakdown: str, code: str | None) -> str:
        """A breakdown's category in words (codes of sex, ethnicity, tier and poverty)."""
        if not code:
            return ""
        if breakdown == "ethnicity":
            try:
                return ethnicity.display(code, self.locale)
            except KeyError:
                return code
        if breakdown in ("sex", "facility_type", "township_type", "poverty") or code == "unknown":
            return self(code)
        return code

    def finding(self, value: str | None) -> str:
        """A quality finding's value in words (phip.web.console.finding_words)."""
        return finding_value(value, self.lang == "zh", self.resource, lambda c: self.category("sex", c))

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
