"""What a steward sees: masked values for administrators, plain ones for the record's facility."""

from datetime import date

from phip.identity.display import golden_view, record_view
from phip.identity.golden import build
from phip.identity.person import PersonRecord, derive
from phip.security.masking import mask_address, mask_id, mask_name, mask_phone
from phip.standards import idcard

NUM = idcard.make("620102", date(1961, 12, 10), 0, False)


def test_masks() -> None:
    assert mask_id(NUM) == NUM[:6] + "********" + NUM[-4:]
    assert mask_phone("13678001169") == "136****1169"
    assert [mask_name(n) for n in ("周", "周巧", "欧阳娜娜", "阿依古丽·买买提")] == [
        "周",
        "周*",
        "欧**娜",
        "阿******提",
    ]
    assert (
        mask_address("甘肃省兰州市城关区酒泉路街道兴隆街社区116号", "620102001001") == "城关区酒泉路街道***"
    )
    assert mask_address("某地", "") == "***" and mask_address("", "") == ""
    assert mask_id("123") == "***"


def test_record_and_golden_views() -> None:
    rec = PersonRecord(
        "Patient/a",
        "周巧",
        "female",
        "1961-12-10",
        NUM,
        "13678001169",
        "甘肃省兰州市城关区酒泉路街道兴隆街社区116号",
        "620102001001",
        source="620102-A100-01",
    )
    p = derive(rec)
    masked = record_view(p, "P1", "auto", 0.9991234, masked=True)
    assert masked == {
        "record": "Patient/a",
        "person": "P1",
        "link_status": "auto",
        "link_probability": 0.999123,
        "source": "620102-A100-01",
        "name": "周*",
        "sex": "female",
        "birth_date": "1961-12-10",
        "id_number": mask_id(NUM),
        "phone": "136****1169",
        "address": "城关区酒泉路街道***",
        "division": "620102001",
    }
    plain = record_view(p, "P1", "manual", None, masked=False)
    assert plain["name"] == "周巧" and plain["id_number"] == NUM and plain["division"] == "620102001001"
    g = build([p])
    assert golden_view(g, {"Patient/a"}, masked=True)["phone"]["value"] == "136****1169"
    assert golden_view(g, set(), masked=False) == {}  # nothing from records out of scope
