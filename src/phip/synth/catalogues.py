"""Clinical catalogues the synthetic province draws from: diagnoses (ICD-10), drugs (ATC),
procedures (ICD-9-CM-3), vaccines of the national immunisation programme, departments, labs."""

from __future__ import annotations

# (ICD-10, weight, sex restriction or None) for outpatient visits
Dx = list[tuple[str, int, str | None]]
OUTPATIENT_DX: Dx = [
    ("J06.9", 22, None),
    ("J02.9", 8, None),
    ("J20.9", 7, None),
    ("K29.7", 7, None),
    ("M54.5", 5, None),
    ("A09", 4, None),
    ("R51", 3, None),
    ("M17.9", 4, None),
    ("N39.0", 3, None),
    ("H10.9", 2, None),
    ("L30.9", 3, None),
    ("K02.9", 2, None),
    ("Z00.0", 4, None),
    ("J45.9", 2, None),
    ("K59.0", 2, None),
    ("I10", 6, None),
    ("E11.9", 3, None),
    ("N76.0", 2, "female"),
    ("N41.9", 1, "male"),
    ("J18.9", 2, None),
]
INPATIENT_DX: Dx = [
    ("J18.9", 14, None),
    ("I63.9", 10, None),
    ("I25.1", 8, None),
    ("I50.9", 5, None),
    ("J44.1", 7, None),
    ("K80.2", 5, None),
    ("K35.8", 4, None),
    ("S72.0", 3, None),
    ("C34.9", 3, None),
    ("C16.9", 2, None),
    ("E11.9", 4, None),
    ("N18.9", 3, None),
    ("K74.6", 2, None),
    ("I61.9", 2, None),
    ("I10", 5, None),
    ("N40", 2, "male"),
    ("D25.9", 2, "female"),
]
EMERGENCY_DX: Dx = [
    ("S06.0", 5, None),
    ("T14.9", 6, None),
    ("R10.4", 6, None),
    ("I21.9", 3, None),
    ("J18.9", 3, None),
]
# Sex-specific diagnoses used to inject inconsistencies (female-only given to a man, and vice versa)
FEMALE_ONLY_DX = ["O80", "N76.0", "D25.9", "N70.9"]
MALE_ONLY_DX = ["N40", "N41.9", "C61"]

# Procedures (ICD-9-CM-3) for inpatient diagnoses
PROCEDURES = {
    "K35.8": ("47.09", "阑尾切除术"),
    "K80.2": ("51.23", "腹腔镜胆囊切除术"),
    "I25.1": ("36.06", "冠状动脉支架置入术"),
    "S72.0": ("81.51", "全髋关节置换术"),
    "I63.9": ("87.03", "头部计算机断层扫描"),
    "C16.9": ("45.13", "胃镜检查"),
    "O82": ("74.1", "子宫下段剖宫产术"),
}

# Drugs: (ATC, zh name, en name, unit price CNY, diagnoses it treats)
DRUGS = [
    ("C08CA01", "苯磺酸氨氯地平片", "Amlodipine", 12.0, ("I10",)),
    ("C08CA05", "硝苯地平控释片", "Nifedipine", 18.0, ("I10",)),
    ("C09CA01", "氯沙坦钾片", "Losartan", 25.0, ("I10", "I50.9")),
    ("A10BA02", "盐酸二甲双胍片", "Metformin", 9.0, ("E11.9",)),
    ("A10AE04", "甘精胰岛素注射液", "Insulin glargine", 160.0, ("E11.9",)),
    ("B01AC06", "阿司匹林肠溶片", "Aspirin", 8.0, ("I25.1", "I63.9", "I21.9")),
    ("C10AA05", "阿托伐他汀钙片", "Atorvastatin", 30.0, ("I25.1", "I63.9")),
    ("J01CA04", "阿莫西林胶囊", "Amoxicillin", 10.0, ("J02.9", "J20.9", "J18.9", "N39.0")),
    ("J01DC02", "头孢呋辛酯片", "Cefuroxime", 28.0, ("J18.9", "J20.9", "N39.0", "K35.8")),
    ("J01MA12", "左氧氟沙星片", "Levofloxacin", 22.0, ("J18.9", "N39.0", "J44.1")),
    ("M01AE01", "布洛芬缓释胶囊", "Ibuprofen", 11.0, ("M54.5", "M17.9", "R51", "J06.9")),
    ("A02BC01", "奥美拉唑肠溶胶囊", "Omeprazole", 15.0, ("K29.7", "K80.2", "C16.9")),
    ("R05CB01", "乙酰半胱氨酸颗粒", "Acetylcysteine", 20.0, ("J20.9", "J44.1")),
    ("R03AC02", "沙丁胺醇气雾剂", "Salbutamol", 24.0, ("J45.9", "J44.1")),
    ("A07DA03", "洛哌丁胺胶囊", "Loperamide", 9.0, ("A09",)),
    ("S01AA12", "妥布霉素滴眼液", "Tobramycin eye drops", 16.0, ("H10.9",)),
    ("D07AC01", "倍他米松乳膏", "Betamethasone cream", 13.0, ("L30.9",)),
    ("TCM0001", "板蓝根颗粒", "Banlangen granules", 14.0, ("J06.9", "J02.9")),
    ("TCM0002", "连花清瘟胶囊", "Lianhua Qingwen capsules", 26.0, ("J06.9", "J18.9")),
    ("TCM0003", "复方丹参滴丸", "Compound Danshen dripping pills", 32.0, ("I25.1",)),
]


# Departments: (code, zh, en, inpatient share of beds by tier)
HOSPITAL_DEPARTMENTS = [
    ("IM", "内科", "Internal medicine", 0.22),
    ("CARD", "心血管内科", "Cardiology", 0.10),
    ("NEUR", "神经内科", "Neurology", 0.10),
    ("SURG", "外科", "General surgery", 0.16),
    ("ORTH", "骨科", "Orthopaedics", 0.10),
    ("OBGY", "妇产科", "Obstetrics and gynaecology", 0.10),
    ("PED", "儿科", "Paediatrics", 0.08),
    ("TCM", "中医科", "Traditional Chinese medicine", 0.06),
    ("ONC", "肿瘤科", "Oncology", 0.05),
    ("ER", "急诊科", "Emergency", 0.03),
]
PRIMARY_DEPARTMENTS = [("GP", "全科", "General practice", 0.8), ("PH", "预防保健科", "Preventive care", 0.2)]
VILLAGE_DEPARTMENTS = [("GP", "诊室", "Consultation room", 0.0)]

# Observations: (LOINC, zh, en, unit)
LOINC = {
    "sbp": ("8480-6", "收缩压", "Systolic blood pressure", "mm[Hg]"),
    "dbp": ("8462-4", "舒张压", "Diastolic blood pressure", "mm[Hg]"),
    "bp": ("85354-9", "血压", "Blood pressure panel", ""),
    "glucose": ("1558-6", "空腹血糖", "Fasting glucose", "mmol/L"),
    "hba1c": ("4548-4", "糖化血红蛋白", "Hemoglobin A1c", "%"),
    "bmi": ("39156-5", "体重指数", "Body mass index", "kg/m2"),
    "weight": ("29463-7", "体重", "Body weight", "kg"),
    "height": ("8302-2", "身高", "Body height", "cm"),
    "hb": ("718-7", "血红蛋白", "Hemoglobin", "g/L"),
    "wbc": ("6690-2", "白细胞计数", "Leukocytes", "10*9/L"),
    "temp": ("8310-5", "体温", "Body temperature", "Cel"),
}
