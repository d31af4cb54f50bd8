"""Identifier formats and closed vocabularies of the trade.

Licence numbers, drug approval numbers, drug identification codes, 20-digit traceability
codes, GTIN-14, and the closed sets (roles, licence kinds, scopes, categories, rejection
reasons). Formats marked (unverified) in DOMAIN.md live in ``LICENCE_NUMBER_FORMATS`` so a
deployment can change them without touching the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

from ledger.errors import MalformedInputError

# -- roles ------------------------------------------------------------------------------
ROLES = frozenset(
    {
        "mah",
        "manufacturer",
        "distributor",
        "hospital",
        "clinic",
        "pharmacy",
        "disease_control",
        "carrier",
        "reviewer",
        "arbiter",
        "auditor",
        "regulator",
    }
)
SELLER_ROLES = frozenset({"mah", "manufacturer", "distributor"})
BUYER_ROLES = frozenset({"distributor", "hospital", "clinic", "pharmacy", "disease_control"})
HOLDER_ROLES = SELLER_ROLES | BUYER_ROLES
READ_ONLY_ROLES = frozenset({"auditor", "regulator"})

ROLE_NAMES_ZH = {
    "mah": "上市许可持有人",
    "manufacturer": "药品生产企业",
    "distributor": "药品批发企业",
    "hospital": "医疗机构",
    "clinic": "诊所",
    "pharmacy": "零售药店",
    "disease_control": "疾病预防控制机构",
    "carrier": "第三方物流",
    "reviewer": "资质审核",
    "arbiter": "仲裁",
    "auditor": "审计",
    "regulator": "监管",
}

# -- qualifications ----------------------------------------------------------------------
BUSINESS_LICENCE = "business_licence"
MANUFACTURING_LICENCE = "drug_manufacturing_licence"
DISTRIBUTION_LICENCE = "drug_distribution_licence"
DEVICE_DISTRIBUTION_LICENCE = "device_distribution_licence"
MEDICAL_INSTITUTION_LICENCE = "medical_institution_licence"
PURCHASE_CARD = "purchase_card"
SPECIAL_DRUG_DESIGNATION = "special_drug_designation"

LICENCE_KINDS = frozenset(
    {
        BUSINESS_LICENCE,
        MANUFACTURING_LICENCE,
        DISTRIBUTION_LICENCE,
        DEVICE_DISTRIBUTION_LICENCE,
        MEDICAL_INSTITUTION_LICENCE,
        PURCHASE_CARD,
        SPECIAL_DRUG_DESIGNATION,
    }
)
LICENCE_NAMES_ZH = {
    BUSINESS_LICENCE: "营业执照",
    MANUFACTURING_LICENCE: "药品生产许可证",
    DISTRIBUTION_LICENCE: "药品经营许可证",
    DEVICE_DISTRIBUTION_LICENCE: "医疗器械经营许可证",
    MEDICAL_INSTITUTION_LICENCE: "医疗机构执业许可证",
    PURCHASE_CARD: "麻醉药品、第一类精神药品购用印鉴卡",
    SPECIAL_DRUG_DESIGNATION: "麻醉药品和精神药品定点经营资格",
}

# The licence a role trades under (GSP art. 62/89): any one of these kinds, valid and
# covering the product's category.
ROLE_LICENCES: Mapping[str, frozenset[str]] = {
    "mah": frozenset({MANUFACTURING_LICENCE}),
    "manufacturer": frozenset({MANUFACTURING_LICENCE}),
    "distributor": frozenset({DISTRIBUTION_LICENCE}),
    "pharmacy": frozenset({DISTRIBUTION_LICENCE}),
    "hospital": frozenset({MEDICAL_INSTITUTION_LICENCE}),
    "clinic": frozenset({MEDICAL_INSTITUTION_LICENCE}),
    "disease_control": frozenset({MEDICAL_INSTITUTION_LICENCE}),
}

# The types of drug distribution licence (the number's second letter) each role trades
# under: A wholesale (批发), B retail chain headquarters (零售连锁总部), C chain store (连锁门店),
# D single pharmacy (单体药店). A pharmacy's retail licence does not make it a wholesaler.
DISTRIBUTION_LICENCE_TYPES: Mapping[str, frozenset[str]] = {
    "distributor": frozenset({"A", "B"}),
    "pharmacy": frozenset({"B", "C", "D"}),
}

_HAN = "\u4e00-\u9fa5"
LICENCE_NUMBER_FORMATS: dict[str, re.Pattern[str]] = {
    DISTRIBUTION_LICENCE: re.compile(rf"^[{_HAN}][ABCD][AB][0-9]{{7}}([0-9]{{2}})?$"),
    MANUFACTURING_LICENCE: re.compile(rf"^[{_HAN}][0-9]{{8}}$"),  # (unverified)
    DEVICE_DISTRIBUTION_LICENCE: re.compile(rf"^[{_HAN}]{{2,}}.{{4,40}}$"),  # (unverified)
    MEDICAL_INSTITUTION_LICENCE: re.compile(r"^[0-9A-Z]{8,32}$"),  # (unverified)
    PURCHASE_CARD: re.compile(rf"^[0-9A-Za-z{_HAN}-]{{4,40}}$"),  # (unverified)
    SPECIAL_DRUG_DESIGNATION: re.compile(rf"^[0-9A-Za-z{_HAN}-]{{4,40}}$"),  # (unverified)
}

# -- scopes and categories -----------------------------------------------------------------
CHEMICAL = "chemical_drugs"
CHINESE_PATENT = "chinese_patent_medicines"
TCM_PIECES = "tcm_pieces"
BIOLOGICS = "biologics"
VACCINES = "vaccines"
IVD = "in_vitro_diagnostics"
COLD_CHAIN = "cold_chain"
NARCOTICS = "narcotics"
PSYCHOTROPIC_1 = "psychotropics_1"
PSYCHOTROPIC_2 = "psychotropics_2"
TOXIC = "toxic_drugs"
PRECURSOR = "precursor_chemicals"
DEVICES_2 = "devices_class_2"
DEVICES_3 = "devices_class_3"

SCOPES = frozenset(
    {
        CHEMICAL,
        CHINESE_PATENT,
        TCM_PIECES,
        BIOLOGICS,
        VACCINES,
        IVD,
        COLD_CHAIN,
        NARCOTICS,
        PSYCHOTROPIC_1,
        PSYCHOTROPIC_2,
        TOXIC,
        PRECURSOR,
        DEVICES_2,
        DEVICES_3,
    }
)
CATEGORIES = frozenset(
    {CHEMICAL, CHINESE_PATENT, TCM_PIECES, BIOLOGICS, VACCINES, IVD, DEVICES_2, DEVICES_3}
)
SPECIAL_CLASSES = frozenset({NARCOTICS, PSYCHOTROPIC_1, PSYCHOTROPIC_2, TOXIC, PRECURSOR})
# Special classes that need the seller's designation and a hospital buyer's purchase card.
CONTROLLED_CLASSES = frozenset({NARCOTICS, PSYCHOTROPIC_1})

SCOPE_NAMES_ZH = {
    CHEMICAL: "化学药",
    CHINESE_PATENT: "中成药",
    TCM_PIECES: "中药饮片",
    BIOLOGICS: "生物制品",
    VACCINES: "疫苗",
    IVD: "体外诊断试剂",
    COLD_CHAIN: "冷藏冷冻药品",
    NARCOTICS: "麻醉药品",
    PSYCHOTROPIC_1: "第一类精神药品",
    PSYCHOTROPIC_2: "第二类精神药品",
    TOXIC: "医疗用毒性药品",
    PRECURSOR: "药品类易制毒化学品",
    DEVICES_2: "第二类医疗器械",
    DEVICES_3: "第三类医疗器械",
}

# Drug approval number: 国药准字 + letter + 8 digits; the letter bounds the category.
APPROVAL_NUMBER_RE = re.compile(r"^国药准字([HZSJ])[0-9]{8}$")
APPROVAL_LETTER_CATEGORIES: Mapping[str, frozenset[str]] = {
    "H": frozenset({CHEMICAL}),
    "Z": frozenset({CHINESE_PATENT, TCM_PIECES}),
    "S": frozenset({BIOLOGICS, VACCINES, IVD}),
    "J": CATEGORIES,  # imported: any category, named by the product record
}

# Cold chain: a product whose storage range lies within 2-8 °C or colder (tenths of °C).
COLD_CHAIN_MAX_TENTHS = 80

REJECTION_REASONS = frozenset(
    {
        "damaged",
        "temperature_excursion",
        "lot_mismatch",
        "short",
        "expired",
        "document_mismatch",
        "suspect",
    }
)
RECALL_LEVELS = {"I": 24, "II": 48, "III": 72}  # notification hours (unverified, 2022 rules)

DEEMED_MANUFACTURER_KINDS = frozenset({"group_sales", "sole_importer"})

# -- identifiers -----------------------------------------------------------------------------
PRODUCT_CODE_RE = re.compile(r"^[0-9]{7}$")
UNIT_CODE_RE = re.compile(r"^[0-9]{20}$")
GTIN14_RE = re.compile(r"^[0-9]{14}$")
SHA256_HEX_RE = re.compile(r"^[0-9a-f]{64}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
REGION_RE = re.compile(r"^[0-9]{6}$")
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def verify_licence_number(kind: str, number: str, holder_uscc: str) -> None:
    """Raise ``MalformedInputError`` unless ``number`` has the format of licence ``kind``.

    A business licence's number is its holder's unified social credit code.
    """
    if kind == BUSINESS_LICENCE:
        if number != holder_uscc:
            raise MalformedInputError(
                f"business licence number must be the holder's USCC {holder_uscc}, got {number!r}"
            )
        return
    pattern = LICENCE_NUMBER_FORMATS.get(kind)
    if pattern is not None and not pattern.fullmatch(number):
        raise MalformedInputError(
            f"{LICENCE_NAMES_ZH.get(kind, kind)} number {number!r} does not match {pattern.pattern}"
        )


def distribution_licence_type(number: str) -> str:
    """A, B, C or D: wholesale, chain headquarters, chain store, single pharmacy."""
    return number[1]


def licence_serves_role(kind: str, number: str, role: str) -> bool:
    """Whether a licence of ``kind`` numbered ``number`` is one ``role`` trades under: of a
    kind in ``ROLE_LICENCES[role]`` and, for a distribution licence, of a type in
    ``DISTRIBUTION_LICENCE_TYPES[role]``. The ledger's rules and the bundle verifier share it."""
    if kind not in ROLE_LICENCES.get(role, ()):
        return False
    types = DISTRIBUTION_LICENCE_TYPES.get(role)
    return (
        kind != DISTRIBUTION_LICENCE or types is None or distribution_licence_type(number) in types
    )


def distribution_types_hint(roles: Iterable[str]) -> str:
    """ " (a distribution licence of type A/B)" for messages, or "" when no role needs one."""
    types = sorted(set().union(*(DISTRIBUTION_LICENCE_TYPES.get(r, ()) for r in roles)))
    return f" (a distribution licence of type {'/'.join(types)})" if types else ""


def approval_letter(approval_number: str) -> str:
    m = APPROVAL_NUMBER_RE.fullmatch(approval_number)
    if not m:
        raise MalformedInputError(
            f"approval number {approval_number!r} does not match 国药准字[HZSJ][0-9]{{8}}"
        )
    return m.group(1)


def gtin_check_digit(first13: str) -> str:
    """GS1 mod-10 check digit over 13 digits."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(first13)))
    return str((10 - total % 10) % 10)


def verify_gtin14(gtin: object) -> None:
    if not isinstance(gtin, str) or not GTIN14_RE.fullmatch(gtin):
        raise MalformedInputError(f"GTIN-14 must be 14 digits, got {gtin!r}")
    want = gtin_check_digit(gtin[:13])
    if gtin[13] != want:
        raise MalformedInputError(f"GTIN-14 {gtin} has check digit {gtin[13]}, want {want}")


def verify_unit_code(code: str, product_code: str) -> None:
    """A 20-digit traceability code whose first seven digits are the product's code."""
    if not isinstance(code, str) or not UNIT_CODE_RE.fullmatch(code):
        raise MalformedInputError(f"traceability code must be 20 digits, got {code!r}")
    if code[:7] != product_code:
        raise MalformedInputError(
            f"traceability code {code} starts with {code[:7]}, want product code {product_code}"
        )


def parse_date(text: object, what: str) -> date:
    if not isinstance(text, str) or not DATE_RE.fullmatch(text):
        raise MalformedInputError(f"{what} must be a date YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise MalformedInputError(f"{what} {text!r} is not a calendar date") from e
